"""Every query of the goals service (all its SQL), one module per resource; the caller passes
the session and owns the commit. Every query filters on the caller's tenant, but the status
timer's list of open cycles (`cycles.open_ids`), which spans them all."""
