"""Webhooks from the payment provider and the ATM network: source checks and handlers."""
