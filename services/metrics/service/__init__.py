"""Use cases of the metrics service, one module per resource: load → domain → save.
Never commits: the request (or the consumer's batch) is the boundary."""
