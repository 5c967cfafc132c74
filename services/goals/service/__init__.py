"""Use cases of the goals service, one module per resource: load → domain → save → outbox.
Never commits: the request (or the consumer's batch) is the boundary."""
