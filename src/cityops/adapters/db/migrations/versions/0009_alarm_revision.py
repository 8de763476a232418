"""lifeline alarms: a revision per alarm row

The ingesting engine keeps its alarms in memory and an operator acknowledges or clears them
in another process (the API). Every write of an alarm now bumps ``revision`` and expects the
value it read, so a write decided on an outdated copy fails and is decided again on the rows
(docs/lifeline.md, "Alarms"). Existing rows start at 0. The engine now reloads its alarms at
every tick: an index on ``cleared_at`` finds the recently cleared ones without a scan.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('lifeline_alarms', sa.Column('revision', sa.Integer(), nullable=False,
                                               server_default=sa.text('0')))
    op.create_index('ix_lifeline_alarms_cleared_at', 'lifeline_alarms', ['cleared_at'])


def downgrade() -> None:
    op.drop_index('ix_lifeline_alarms_cleared_at', table_name='lifeline_alarms')
    op.drop_column('lifeline_alarms', 'revision')  # SQLite ≥ 3.35 drops a column in place
