"""HTTP routes, one thin APIRouter per URL collection: they call service/, never repository/.
Routes that ask metrics about a KPI (`metrics_client`) do so before their write transaction."""
