"""devices, device events, quarantine (issue 4); entry metadata for search (issue 5)

Revision ID: 3a52455e62da
Revises: 8fc18680339b
Create Date: 2026-11-23 02:54:34.843026
"""
import json
from datetime import datetime

from alembic import op
import sqlalchemy as sa


revision = '3a52455e62da'
down_revision = '8fc18680339b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('entry_meta',
    sa.Column('entry_idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('entry_type', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('entry_idx', name=op.f('pk_entry_meta'))
    )
    with op.batch_alter_table('entry_meta', schema=None) as batch_op:
        batch_op.create_index('ix_entry_meta_at', ['at', 'entry_idx'], unique=False)
        batch_op.create_index('ix_entry_meta_type', ['entry_type', 'entry_idx'], unique=False)

    op.create_table('quarantined_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('topic_device_id', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.String(length=300), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('raw_size', sa.Integer(), nullable=False),
    sa.Column('raw_sha256', sa.LargeBinary(length=32), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantined_events'))
    )
    with op.batch_alter_table('quarantined_events', schema=None) as batch_op:
        batch_op.create_index('ix_quarantined_events_device', ['topic_device_id', 'id'], unique=False)
        batch_op.create_index('ix_quarantined_events_received', ['received_at'], unique=False)

    op.create_table('devices',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('owner_org_id', sa.String(length=32), nullable=False),
    sa.Column('alg', sa.String(length=8), nullable=False),
    sa.Column('public_jwk', sa.JSON(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('active', 'revoked', name='device_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('mqtt_password_hash', sa.Text(), nullable=True),
    sa.Column('last_seq', sa.BigInteger(), nullable=True),
    sa.Column('registration_entry_idx', sa.BigInteger(), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['owner_org_id'], ['organizations.id'], name=op.f('fk_devices_owner_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices'))
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_owner_org_id'), ['owner_org_id'], unique=False)

    op.create_table('device_events',
    sa.Column('entry_idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('shipment', sa.String(length=64), nullable=True),
    sa.Column('device_ts', sa.String(length=40), nullable=False),
    sa.Column('jws', sa.Text(), nullable=False),
    sa.Column('jws_sha256', sa.LargeBinary(length=32), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_events_device_id_devices')),
    sa.PrimaryKeyConstraint('entry_idx', name=op.f('pk_device_events')),
    sa.UniqueConstraint('device_id', 'seq', name='uq_device_events_device_seq')
    )
    with op.batch_alter_table('device_events', schema=None) as batch_op:
        batch_op.create_index('ix_device_events_device', ['device_id', 'entry_idx'], unique=False)
        batch_op.create_index('ix_device_events_shipment', ['shipment', 'entry_idx'], unique=False)
    _backfill_entry_meta()


def _backfill_entry_meta(chunk: int = 5000) -> None:
    """Index the type and time of entries logged before this table existed."""
    connection = op.get_bind()
    entries = sa.table("ledger_entries", sa.column("idx", sa.BigInteger),
                       sa.column("data", sa.LargeBinary))
    meta = sa.table("entry_meta", sa.column("entry_idx", sa.BigInteger),
                    sa.column("entry_type", sa.String), sa.column("at", sa.DateTime(timezone=True)))
    start = 0
    while True:
        rows = connection.execute(sa.select(entries.c.idx, entries.c.data)
                                  .where(entries.c.idx >= start).order_by(entries.c.idx)
                                  .limit(chunk)).all()
        if not rows:
            return
        values = []
        for idx, data in rows:
            entry = json.loads(bytes(data))
            values.append({"entry_idx": idx, "entry_type": entry["type"],
                           "at": datetime.fromisoformat(entry["at"].replace("Z", "+00:00"))})
        connection.execute(sa.insert(meta), values)
        start = rows[-1][0] + 1


def downgrade() -> None:
    with op.batch_alter_table('device_events', schema=None) as batch_op:
        batch_op.drop_index('ix_device_events_shipment')
        batch_op.drop_index('ix_device_events_device')

    op.drop_table('device_events')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_owner_org_id'))

    op.drop_table('devices')
    with op.batch_alter_table('quarantined_events', schema=None) as batch_op:
        batch_op.drop_index('ix_quarantined_events_received')
        batch_op.drop_index('ix_quarantined_events_device')

    op.drop_table('quarantined_events')
    with op.batch_alter_table('entry_meta', schema=None) as batch_op:
        batch_op.drop_index('ix_entry_meta_type')
        batch_op.drop_index('ix_entry_meta_at')

    op.drop_table('entry_meta')
