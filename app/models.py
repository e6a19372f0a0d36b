"""Every table the application owns, for Alembic and for tests.

Import this module to have all models registered on ``Base.metadata``;
the ledger's own tables are on ``ledger.sqlstore.metadata``.
"""

from ledger.sqlstore import metadata as ledger_metadata

from .db import Base
from .consent.models import Consent  # noqa: F401
from .devices.models import Device, DeviceEvent, QuarantinedEvent  # noqa: F401
from .documents.models import (  # noqa: F401
    Document, DocumentAccess, DocumentParty, DocumentVersion, EblTransfer,
)
from .idempotency import IdempotencyRecord  # noqa: F401
from .identity.models import ApiToken, Organization  # noqa: F401
from .notary.models import EntryMeta, EntryRef  # noqa: F401
from .signing.models import DocumentSignature, SigningKey  # noqa: F401

ALL_METADATA = (Base.metadata, ledger_metadata)
