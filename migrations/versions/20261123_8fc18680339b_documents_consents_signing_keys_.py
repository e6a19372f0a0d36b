"""documents, consents, signing keys, idempotency: the trading firms' API (issue 3)

Revision ID: 8fc18680339b
Revises: ef9225771ffa
Create Date: 2026-11-23 02:43:36.505600
"""
from alembic import op
import sqlalchemy as sa


revision = '8fc18680339b'
down_revision = 'ef9225771ffa'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('idempotency_records',
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('fingerprint', sa.LargeBinary(length=32), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'key', name=op.f('pk_idempotency_records'))
    )
    op.create_table('consents',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('owner_org_id', sa.String(length=32), nullable=False),
    sa.Column('recipient_org_id', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('document_ids', sa.JSON(), nullable=False),
    sa.Column('document_types', sa.JSON(), nullable=False),
    sa.Column('data_categories', sa.JSON(), nullable=False),
    sa.Column('allowed_actions', sa.JSON(), nullable=False),
    sa.Column('destination', sa.String(length=2), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('subject_consent_ref', sa.String(length=128), nullable=True),
    sa.Column('export_assessment_ref', sa.String(length=64), nullable=True),
    sa.Column('status', sa.Enum('active', 'revoked', name='consent_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('entry_idx', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['owner_org_id'], ['organizations.id'], name=op.f('fk_consents_owner_org_id_organizations')),
    sa.ForeignKeyConstraint(['recipient_org_id'], ['organizations.id'], name=op.f('fk_consents_recipient_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index('ix_consents_owner', ['owner_org_id', 'created_at'], unique=False)
        batch_op.create_index('ix_consents_recipient', ['recipient_org_id', 'created_at'], unique=False)

    op.create_table('documents',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('owner_org_id', sa.String(length=32), nullable=False),
    sa.Column('doc_type', sa.String(length=40), nullable=False),
    sa.Column('status', sa.Enum('issued', 'amended', 'cancelled', 'surrendered', name='document_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=71), nullable=False),
    sa.Column('holder_org_id', sa.String(length=32), nullable=True),
    sa.Column('addressed_to_org_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['addressed_to_org_id'], ['organizations.id'], name=op.f('fk_documents_addressed_to_org_id_organizations')),
    sa.ForeignKeyConstraint(['holder_org_id'], ['organizations.id'], name=op.f('fk_documents_holder_org_id_organizations')),
    sa.ForeignKeyConstraint(['owner_org_id'], ['organizations.id'], name=op.f('fk_documents_owner_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents'))
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index('ix_documents_addressed_to', ['addressed_to_org_id'], unique=False)
        batch_op.create_index('ix_documents_holder', ['holder_org_id'], unique=False)
        batch_op.create_index('ix_documents_owner_created', ['owner_org_id', 'created_at'], unique=False)

    op.create_table('signing_keys',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.Column('alg', sa.String(length=8), nullable=False),
    sa.Column('public_jwk', sa.JSON(), nullable=False),
    sa.Column('thumbprint', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_signing_keys_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_keys'))
    )
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signing_keys_org_id'), ['org_id'], unique=False)

    op.create_table('document_accesses',
    sa.Column('entry_idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('document_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('consent_id', sa.String(length=32), nullable=False),
    sa.Column('reader_org_id', sa.String(length=32), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], name=op.f('fk_document_accesses_consent_id_consents')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_document_accesses_document_id_documents')),
    sa.ForeignKeyConstraint(['reader_org_id'], ['organizations.id'], name=op.f('fk_document_accesses_reader_org_id_organizations')),
    sa.PrimaryKeyConstraint('entry_idx', name=op.f('pk_document_accesses'))
    )
    with op.batch_alter_table('document_accesses', schema=None) as batch_op:
        batch_op.create_index('ix_document_accesses_document', ['document_id', 'entry_idx'], unique=False)

    op.create_table('document_parties',
    sa.Column('document_id', sa.String(length=32), nullable=False),
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_document_parties_document_id_documents')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_document_parties_org_id_organizations')),
    sa.PrimaryKeyConstraint('document_id', 'org_id', name=op.f('pk_document_parties'))
    )
    with op.batch_alter_table('document_parties', schema=None) as batch_op:
        batch_op.create_index('ix_document_parties_org', ['org_id', 'document_id'], unique=False)

    op.create_table('document_signatures',
    sa.Column('entry_idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('document_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('jws', sa.Text(), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_document_signatures_document_id_documents')),
    sa.ForeignKeyConstraint(['key_id'], ['signing_keys.id'], name=op.f('fk_document_signatures_key_id_signing_keys')),
    sa.PrimaryKeyConstraint('entry_idx', name=op.f('pk_document_signatures'))
    )
    with op.batch_alter_table('document_signatures', schema=None) as batch_op:
        batch_op.create_index('ix_document_signatures_document', ['document_id', 'version'], unique=False)

    op.create_table('document_versions',
    sa.Column('document_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('salts', sa.JSON(), nullable=False),
    sa.Column('digest', sa.String(length=71), nullable=False),
    sa.Column('previous_digest', sa.String(length=71), nullable=True),
    sa.Column('entry_idx', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_document_versions_document_id_documents')),
    sa.PrimaryKeyConstraint('document_id', 'version', name=op.f('pk_document_versions'))
    )
    op.create_table('ebl_transfers',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('document_id', sa.String(length=32), nullable=False),
    sa.Column('from_org_id', sa.String(length=32), nullable=False),
    sa.Column('to_org_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('pending', 'accepted', 'rejected', name='transfer_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('offer_entry_idx', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_ebl_transfers_document_id_documents')),
    sa.ForeignKeyConstraint(['from_org_id'], ['organizations.id'], name=op.f('fk_ebl_transfers_from_org_id_organizations')),
    sa.ForeignKeyConstraint(['to_org_id'], ['organizations.id'], name=op.f('fk_ebl_transfers_to_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ebl_transfers'))
    )
    with op.batch_alter_table('ebl_transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ebl_transfers_document_id'), ['document_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ebl_transfers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ebl_transfers_document_id'))

    op.drop_table('ebl_transfers')
    op.drop_table('document_versions')
    with op.batch_alter_table('document_signatures', schema=None) as batch_op:
        batch_op.drop_index('ix_document_signatures_document')

    op.drop_table('document_signatures')
    with op.batch_alter_table('document_parties', schema=None) as batch_op:
        batch_op.drop_index('ix_document_parties_org')

    op.drop_table('document_parties')
    with op.batch_alter_table('document_accesses', schema=None) as batch_op:
        batch_op.drop_index('ix_document_accesses_document')

    op.drop_table('document_accesses')
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signing_keys_org_id'))

    op.drop_table('signing_keys')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index('ix_documents_owner_created')
        batch_op.drop_index('ix_documents_holder')
        batch_op.drop_index('ix_documents_addressed_to')

    op.drop_table('documents')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index('ix_consents_recipient')
        batch_op.drop_index('ix_consents_owner')

    op.drop_table('consents')
    op.drop_table('idempotency_records')
