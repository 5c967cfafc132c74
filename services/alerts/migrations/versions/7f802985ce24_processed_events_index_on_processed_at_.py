"""processed_events: index on processed_at, for pruning (the shared tables' v2)"""

from shared.migration_ops import infra_v2_downgrade as downgrade
from shared.migration_ops import infra_v2_upgrade as upgrade

revision = '7f802985ce24'
down_revision = '9109e8169ebe'
