"""lifeline alarms: rule sets, rule-state snapshots, alarms and their events, emergency plans,
per-case plan steps (docs/lifeline.md). One open alarm per (subject, type): a partial unique
index on SQLite and PostgreSQL.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityops.adapters.db.types


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lifeline_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('min_level', sa.Integer(), nullable=False),
    sa.Column('alarm_types', sa.JSON(), nullable=False),
    sa.Column('asset_kinds', sa.JSON(), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('contacts', sa.JSON(), nullable=False),
    sa.Column('resources', sa.JSON(), nullable=False),
    sa.Column('updated_at', cityops.adapters.db.types.UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('lifeline_rule_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('created_at', cityops.adapters.db.types.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('version')
    )
    op.create_table('lifeline_rule_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('taken_at', cityops.adapters.db.types.UTCDateTime(), nullable=False),
    sa.Column('ruleset_version', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('lifeline_alarms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('alarm_type', sa.String(length=32), nullable=False),
    sa.Column('rule_id', sa.String(length=64), nullable=True),
    sa.Column('asset_id', sa.Integer(), nullable=True),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('current_level', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('reraised', sa.Integer(), nullable=False),
    sa.Column('first_seen', cityops.adapters.db.types.UTCDateTime(), nullable=False),
    sa.Column('last_seen', cityops.adapters.db.types.UTCDateTime(), nullable=False),
    sa.Column('gone_since', cityops.adapters.db.types.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.Column('acknowledged_at', cityops.adapters.db.types.UTCDateTime(), nullable=True),
    sa.Column('cleared_at', cityops.adapters.db.types.UTCDateTime(), nullable=True),
    sa.Column('cleared_how', sa.String(length=16), nullable=True),
    sa.Column('cleared_by', sa.String(length=64), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['lifeline_assets.id'], ),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['device_id'], ['lifeline_devices.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('lifeline_alarms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lifeline_alarms_alarm_type'), ['alarm_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_lifeline_alarms_asset_id'), ['asset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lifeline_alarms_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lifeline_alarms_first_seen'), ['first_seen'], unique=False)
        batch_op.create_index('ix_lifeline_alarms_state_level', ['state', 'level'], unique=False)
        batch_op.create_index('uq_lifeline_alarms_open', ['subject', 'alarm_type'], unique=True, sqlite_where=sa.text("state <> 'cleared'"), postgresql_where=sa.text("state <> 'cleared'"))

    op.create_table('lifeline_alarm_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alarm_id', sa.Integer(), nullable=False),
    sa.Column('at', cityops.adapters.db.types.UTCDateTime(), nullable=False),
    sa.Column('what', sa.String(length=16), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('by', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['alarm_id'], ['lifeline_alarms.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('lifeline_alarm_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lifeline_alarm_events_alarm_id'), ['alarm_id'], unique=False)

    op.create_table('lifeline_case_plan_steps',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('step_no', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('plan_code', sa.String(length=64), nullable=False),
    sa.Column('alarm_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('done_at', cityops.adapters.db.types.UTCDateTime(), nullable=True),
    sa.Column('done_by', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['alarm_id'], ['lifeline_alarms.id'], ),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('case_id', 'step_no')
    )


def downgrade() -> None:
    op.drop_table('lifeline_case_plan_steps')
    with op.batch_alter_table('lifeline_alarm_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lifeline_alarm_events_alarm_id'))

    op.drop_table('lifeline_alarm_events')
    with op.batch_alter_table('lifeline_alarms', schema=None) as batch_op:
        batch_op.drop_index('uq_lifeline_alarms_open', sqlite_where=sa.text("state <> 'cleared'"), postgresql_where=sa.text("state <> 'cleared'"))
        batch_op.drop_index('ix_lifeline_alarms_state_level')
        batch_op.drop_index(batch_op.f('ix_lifeline_alarms_first_seen'))
        batch_op.drop_index(batch_op.f('ix_lifeline_alarms_case_id'))
        batch_op.drop_index(batch_op.f('ix_lifeline_alarms_asset_id'))
        batch_op.drop_index(batch_op.f('ix_lifeline_alarms_alarm_type'))

    op.drop_table('lifeline_alarms')
    op.drop_table('lifeline_rule_state')
    op.drop_table('lifeline_rule_sets')
    op.drop_table('lifeline_plans')
