"""processed_events: index on processed_at, for pruning (the shared tables' v2)"""

from shared.migration_ops import infra_v2_downgrade as downgrade
from shared.migration_ops import infra_v2_upgrade as upgrade

revision = '2bb214fd629a'
down_revision = '0157f5625bbe'
