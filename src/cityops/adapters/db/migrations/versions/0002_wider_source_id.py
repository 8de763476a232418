"""Wider report source ids: a channel's 128-character id behind the user's name.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.alter_column("source_id", type_=sa.String(200), existing_type=sa.String(128),
                           existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.alter_column("source_id", type_=sa.String(128), existing_type=sa.String(200),
                           existing_nullable=False)
