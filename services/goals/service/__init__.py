"""Use cases of the goals service, one module per resource: load (repository/) → decide
(domain/) → save → outbox. They take the session (a write, its `context.Write`, which holds
it) and never commit: the request (or the consumer's batch) is the boundary. Every
re-evaluation goes through `evaluation`: whole cycles, or what a change moved."""
