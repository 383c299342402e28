"""Use cases, one module per area. Each takes ports and returns domain objects or raises."""
