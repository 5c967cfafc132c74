"""Every ORM query of the metrics service, one module per resource; the caller passes the
session and owns the commit. Every query filters on the caller's tenant.

(The ingest hot path writes with raw SQL in `ingest/`, the one reasoned exception; these
queries read what it wrote.)
"""
