"""SQL storage (PostgreSQL in production, SQLite for the embedded default) for the core's ports."""
