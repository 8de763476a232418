"""lifeline: assets, devices, series, readings, latest, roll-ups, dead letters, gateways

Readings are WITHOUT ROWID on SQLite and range-partitioned by day on PostgreSQL; the daily
partitions are made on demand in the schema ``telemetry_partitions`` (docs/lifeline.md).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityops.adapters.db.types


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE SCHEMA IF NOT EXISTS telemetry_partitions')
    op.create_table('telemetry_dead_letters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', cityops.adapters.db.types.UTCDateTime(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('points_rejected', sa.Integer(), nullable=False),
    sa.Column('points_accepted', sa.Integer(), nullable=False),
    sa.Column('resolved', sa.Boolean(), nullable=False),
    sa.Column('resolved_at', cityops.adapters.db.types.UTCDateTime(), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('telemetry_dead_letters', schema=None) as batch_op:
        batch_op.create_index('ix_telemetry_dead_letters_open', ['resolved', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_telemetry_dead_letters_received_at'), ['received_at'], unique=False)

    op.create_table('telemetry_gateways',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', cityops.adapters.db.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_table('telemetry_latest',
    sa.Column('series_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('ts', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('series_id')
    )
    op.create_table('telemetry_readings',
    sa.Column('series_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('ts', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('value', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('series_id', 'ts'),
    postgresql_partition_by='RANGE (ts)',
    sqlite_with_rowid=False
    )
    op.create_table('telemetry_rollup_1h',
    sa.Column('series_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('bucket', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('sum', sa.Double(), nullable=False),
    sa.Column('min', sa.Double(), nullable=False),
    sa.Column('max', sa.Double(), nullable=False),
    sa.Column('last_ts', sa.BigInteger(), nullable=False),
    sa.Column('last_value', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('series_id', 'bucket'),
    sqlite_with_rowid=False
    )
    op.create_table('telemetry_rollup_1m',
    sa.Column('series_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('bucket', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('sum', sa.Double(), nullable=False),
    sa.Column('min', sa.Double(), nullable=False),
    sa.Column('max', sa.Double(), nullable=False),
    sa.Column('last_ts', sa.BigInteger(), nullable=False),
    sa.Column('last_value', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('series_id', 'bucket'),
    sqlite_with_rowid=False
    )
    op.create_table('lifeline_assets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('owner_department_id', sa.Integer(), nullable=False),
    sa.Column('geometry', sa.JSON(), nullable=False),
    sa.Column('lon', sa.Double(), nullable=False),
    sa.Column('lat', sa.Double(), nullable=False),
    sa.Column('grid_code', sa.String(length=14), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('updated_at', cityops.adapters.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_department_id'], ['departments.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('lifeline_assets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lifeline_assets_grid_code'), ['grid_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_lifeline_assets_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_lifeline_assets_owner_department_id'), ['owner_department_id'], unique=False)

    op.create_table('lifeline_adjacency',
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('neighbour_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['lifeline_assets.id'], ),
    sa.ForeignKeyConstraint(['neighbour_id'], ['lifeline_assets.id'], ),
    sa.PrimaryKeyConstraint('asset_id', 'neighbour_id')
    )
    op.create_table('lifeline_devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('gateway', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', cityops.adapters.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['lifeline_assets.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('lifeline_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lifeline_devices_asset_id'), ['asset_id'], unique=False)

    op.create_table('lifeline_series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('interval_s', sa.Double(), nullable=False),
    sa.Column('scale', sa.Double(), nullable=False),
    sa.Column('offset', sa.Double(), nullable=False),
    sa.Column('range_min', sa.Double(), nullable=True),
    sa.Column('range_max', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['lifeline_devices.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('device_id', 'metric')
    )


def downgrade() -> None:
    op.drop_table('lifeline_series')
    with op.batch_alter_table('lifeline_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lifeline_devices_asset_id'))

    op.drop_table('lifeline_devices')
    op.drop_table('lifeline_adjacency')
    with op.batch_alter_table('lifeline_assets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lifeline_assets_owner_department_id'))
        batch_op.drop_index(batch_op.f('ix_lifeline_assets_kind'))
        batch_op.drop_index(batch_op.f('ix_lifeline_assets_grid_code'))

    op.drop_table('lifeline_assets')
    op.drop_table('telemetry_rollup_1m')
    op.drop_table('telemetry_rollup_1h')
    op.drop_table('telemetry_readings')
    op.drop_table('telemetry_latest')
    op.drop_table('telemetry_gateways')
    with op.batch_alter_table('telemetry_dead_letters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_telemetry_dead_letters_received_at'))
        batch_op.drop_index('ix_telemetry_dead_letters_open')

    op.drop_table('telemetry_dead_letters')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP SCHEMA IF EXISTS telemetry_partitions CASCADE')
