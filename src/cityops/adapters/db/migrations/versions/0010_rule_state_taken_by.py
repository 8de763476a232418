"""lifeline rule state: who took each snapshot

An API that takes an occasional reading over HTTP snapshots its engine's rule state beside the
``cityops mqtt`` worker (or its ingest child) that ingests the stream; the newest snapshot was
then the API's thin one, and the worker restored it. Each snapshot now names its writer
(``service/lifeline/engine.py:rule_state_owner``); an engine restores its own newest first.
Existing rows were taken by a writer nobody recorded: '' (restored only as the newest of any).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('lifeline_rule_state', sa.Column('taken_by', sa.String(length=200),
                                                   nullable=False, server_default=''))


def downgrade() -> None:
    op.drop_column('lifeline_rule_state', 'taken_by')  # SQLite ≥ 3.35 drops a column in place
