"""End-to-end HTTP tests (a package, so their module names cannot clash with tests/unit)."""
