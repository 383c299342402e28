"""Email adapters: templates that render outbox events, and notifiers that deliver them."""
