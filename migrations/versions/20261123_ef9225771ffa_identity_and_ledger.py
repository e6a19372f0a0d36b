"""identity and ledger: organisations, API tokens, the Merkle log and its checkpoints

Revision ID: ef9225771ffa
Revises: 
Create Date: 2026-11-23 02:29:27.451026
"""
from alembic import op
import sqlalchemy as sa


revision = 'ef9225771ffa'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('entry_refs',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ref', sa.String(length=80), nullable=False),
    sa.Column('entry_idx', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'ref', 'entry_idx', name=op.f('pk_entry_refs'))
    )
    with op.batch_alter_table('entry_refs', schema=None) as batch_op:
        batch_op.create_index('ix_entry_refs_entry_idx', ['entry_idx'], unique=False)

    op.create_table('organizations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('firm', 'customs', 'regulator', 'admin', name='org_role', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_api_tokens_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_org_id'), ['org_id'], unique=False)

    op.create_table('ledger_checkpoints',
    sa.Column('size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('size', name=op.f('pk_ledger_checkpoints'))
    )
    op.create_table('ledger_entries',
    sa.Column('idx', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('idx', name=op.f('pk_ledger_entries'))
    )
    op.create_table('ledger_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_ledger_head_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_head'))
    )
    # The log starts empty; appenders lock and advance this single row.
    op.bulk_insert(sa.table('ledger_head', sa.column('id', sa.Integer), sa.column('size', sa.BigInteger)),
                   [{'id': 1, 'size': 0}])
    op.create_table('ledger_tree',
    sa.Column('leaf_index', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('hashes', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('leaf_index', name=op.f('pk_ledger_tree'))
    )


def downgrade() -> None:
    op.drop_table('ledger_tree')
    op.drop_table('ledger_head')
    op.drop_table('ledger_entries')
    op.drop_table('ledger_checkpoints')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_org_id'))

    op.drop_table('api_tokens')
    op.drop_table('organizations')
    with op.batch_alter_table('entry_refs', schema=None) as batch_op:
        batch_op.drop_index('ix_entry_refs_entry_idx')

    op.drop_table('entry_refs')
