"""The device registry API (contract section 6): thin views over the services."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from app.identity.auth import current_principal, protected
from app.identity.models import Role
from app.idempotency import WriteResult, perform_write, shown_once
from app.notary.receipts import receipt_for, receipt_for_indexes
from app.platform import current_platform

from . import broker_config, services
from .schemas import (
    REGISTER_EXAMPLE, DeviceEventPageSchema, DevicePageSchema, DeviceQuerySchema, DeviceSchema,
    DeviceWriteSchema, PageQuerySchema, QuarantinePageSchema, QuarantineQuerySchema,
    RegisteredDeviceSchema, RegisterSchema, device_fields,
)

blp = Blueprint("devices", __name__, url_prefix="/api/v1/devices",
                description="Customs edge devices: registry, events, quarantine.")

MANAGERS = (Role.CUSTOMS, Role.ADMIN)
EVENT_READERS = (Role.CUSTOMS, Role.REGULATOR)
REGISTRY_READERS = (Role.CUSTOMS, Role.REGULATOR, Role.ADMIN)
_write = DeviceWriteSchema()


def _device_result(session, device, notarized, status: int, **extra) -> WriteResult:
    return WriteResult(status, _write.dump(device_fields(device) | {
        "receipt": receipt_for(session, notarized)}) | extra)


@blp.route("")
class Devices(MethodView):
    @protected(blp, *MANAGERS)
    @blp.arguments(RegisterSchema(), example=REGISTER_EXAMPLE)
    @blp.response(201, RegisteredDeviceSchema)
    @blp.alt_response(409, response="DEFAULT_ERROR", description="the device id is taken")
    def post(self, body):
        """Register a device with its public key; answers with its MQTT credentials
        (the password only in this answer) and the notarization receipt."""
        platform = current_platform()
        now = platform.now()
        password = broker_config.new_device_password()
        reserved = frozenset(filter(None, [platform.config.mqtt_username]))

        def action(session):
            registration = services.register(session, platform.notary, current_principal(),
                                             services.NewDevice(**body), password, now, reserved)
            return _device_result(session, registration.device, registration.notarized, 201,
                                  mqtt_username=registration.device.id)
        return shown_once(perform_write(action), mqtt_password=password)

    @protected(blp, *REGISTRY_READERS)
    @blp.arguments(DeviceQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, DevicePageSchema)
    def get(self, query):
        """Devices, newest registration first (customs: its own; regulators, admins: all)."""
        with current_platform().db.read() as session:
            items, cursor = services.list_devices(session, current_principal(),
                                                  query.get("status"), query.get("kind"),
                                                  query["limit"], query.get("before"))
            return {"items": [device_fields(item) for item in items], "next": cursor}


@blp.route("/quarantine")
class Quarantine(MethodView):
    @protected(blp, *EVENT_READERS)
    @blp.arguments(QuarantineQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, QuarantinePageSchema)
    def get(self, query):
        """Messages the gateway refused, with the reason and the first bytes of each,
        newest first (customs: those on its own devices' topics; regulators: all)."""
        with current_platform().db.read() as session:
            items, cursor = services.quarantine(session, current_principal(), query.get("device"),
                                                query.get("reason"), query["limit"],
                                                query.get("before"))
            return {"items": items, "next": cursor}


@blp.route("/<device_id>")
class DeviceItem(MethodView):
    @protected(blp, *REGISTRY_READERS)
    @blp.response(200, DeviceSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR", description="no such device for you")
    def get(self, device_id):
        """One device (customs: only its own)."""
        with current_platform().db.read() as session:
            return device_fields(services.get_device(session, current_principal(), device_id))


@blp.route("/<device_id>/revoke")
class Revoke(MethodView):
    @protected(blp, *MANAGERS)
    @blp.response(200, DeviceWriteSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR", description="no such device for you")
    @blp.alt_response(409, response="DEFAULT_ERROR", description="already revoked")
    def post(self, device_id):
        """Revoke a device (customs: its own; admins: any). Its next event is rejected
        with reason ``revoked``; ``tradezone mqtt sync`` also takes it off the broker."""
        platform = current_platform()
        now = platform.now()

        def action(session):
            device, notarized = services.revoke(session, platform.notary, current_principal(),
                                                device_id, now)
            return _device_result(session, device, notarized, 200)
        return perform_write(action)


@blp.route("/<device_id>/events")
class Events(MethodView):
    @protected(blp, *EVENT_READERS)
    @blp.arguments(PageQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, DeviceEventPageSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR", description="no such device for you")
    def get(self, query, device_id):
        """The device's notarized events, newest first, each with the exact JWS,
        and proofs of the page's entries (customs: its own devices)."""
        with current_platform().db.read() as session:
            items, cursor = services.device_events(session, current_principal(), device_id,
                                                   query["limit"], query.get("before"))
            receipt = receipt_for_indexes(session, [e.entry_idx for e in items]) if items else None
            return {"items": items, "receipt": receipt, "next": cursor}
