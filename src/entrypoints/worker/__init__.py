"""Background work: the outbox relay, email delivery, and the scheduled jobs."""
