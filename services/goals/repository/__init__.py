"""Every query of the goals service, one module per resource; the caller passes the session
and owns the commit. Every query filters on the caller's tenant."""
