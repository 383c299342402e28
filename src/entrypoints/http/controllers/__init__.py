"""Thin controllers: parse a Struct, call one use case, return a Struct."""
