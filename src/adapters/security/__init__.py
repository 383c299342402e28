"""Cryptographic adapters: password hashing, access tokens and keyed digests."""
