"""processed_events: index on processed_at, for pruning (the shared tables' v2)"""

from shared.migration_ops import infra_v2_downgrade as downgrade
from shared.migration_ops import infra_v2_upgrade as upgrade

revision = '7e663ea8c60e'
down_revision = '4b81fcc2a6be'
