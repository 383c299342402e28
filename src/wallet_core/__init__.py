"""Digital Wallet core: a double-entry ledger with pending transfers, and the use cases on it.

Standard library only. Adapters implement the ports in :mod:`wallet_core.ports`.
"""
