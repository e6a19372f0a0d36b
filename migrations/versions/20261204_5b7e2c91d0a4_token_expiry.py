"""api tokens may expire: api_tokens.expires_at (null: valid until revoked)

Revision ID: 5b7e2c91d0a4
Revises: 3a52455e62da
Create Date: 2026-12-04 18:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '5b7e2c91d0a4'
down_revision = '3a52455e62da'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
