"""api tokens remember when they were last used: api_tokens.last_used_at

Kept to within an hour (app/identity/services.py, LAST_USE_RESOLUTION), so an
operator can tell the tokens in use from the forgotten ones; null: never used.

Revision ID: 9c4d1e7a2b30
Revises: 5b7e2c91d0a4
Create Date: 2026-12-05 03:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '9c4d1e7a2b30'
down_revision = '5b7e2c91d0a4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
