"""Redis adapters: the list cache and its connection helpers. Redis never decides about money."""
