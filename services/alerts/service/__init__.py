"""Use cases of the alerts service: load → domain → save → outbox. Never commits."""
