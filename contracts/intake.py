"""The rules an order request must pass before it becomes one order, or two linked legs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import phonenumbers

from contracts.addresses import resolve
from contracts.config import Centre, Procedure
from contracts.errors import FieldError
from contracts.legacy_addresses import convert
from contracts.orders import Address, Citizen, Courier, Kind, Order, OrderCreate
from contracts.statuses import Status


def normalise_phone(raw: str, field: str) -> str:
    """A Vietnamese number in national form (0912345678, 02438251234), or a FieldError naming `field`."""
    # The number itself is never repeated in the message: problem details end up in clients' logs.
    try:
        number = phonenumbers.parse(raw, "VN")
    except phonenumbers.NumberParseException:
        raise FieldError(field, "not a phone number") from None
    if number.country_code != 84 or not phonenumbers.is_valid_number(number):
        raise FieldError(field, "not a valid Vietnamese phone number")
    if phonenumbers.number_type(number) not in _PERSONAL_LINES:  # 1900/1800 service numbers and the like
        raise FieldError(field, "not a mobile or fixed-line number a courier can call")
    return f"0{number.national_number}"


_PERSONAL_LINES = frozenset(
    {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
)


def procedure_for(centre: Centre, code: str, name: str | None) -> Procedure:
    """The catalogue entry (QĐ 45 Điều 1.2 excludes procedures that need the citizen in person)."""
    if not centre.procedures:
        if name is None:
            raise FieldError("procedure_name", "the centre has no procedure catalogue: give procedure_name")
        return Procedure(name=name)
    procedure = centre.procedures.get(code)
    if procedure is None:
        raise FieldError("procedure_code", f"procedure {code!r} is not in centre {centre.code}'s catalogue")
    if not procedure.by_post:
        raise FieldError(
            "procedure_code",
            f"procedure {code!r} ({procedure.name}) needs the citizen in person and cannot go by post "
            "(QĐ 45/2016 Điều 1.2)",
        )
    return procedure


def courier_for(centre: Centre, requested: Courier | None, procedure: Procedure, kind: Kind) -> Courier:
    """The order's own courier, else the centre's default for the kind, else its default; always
    VNPost where only the public postal service (BCCI) may carry the procedure."""
    if procedure.public_postal_only:
        if requested not in (None, Courier.VNPOST):
            raise FieldError("courier", "this procedure may go only by the public postal service (vnpost)")
        chosen: str | None = Courier.VNPOST
    else:
        # A round trip is routed as its first leg, the pickup.
        leg = Kind.PICKUP if kind is Kind.ROUND_TRIP else kind
        chosen = requested or centre.default_couriers.get(leg.value) or centre.default_courier
    if chosen is None or chosen not in centre.couriers:
        raise FieldError("courier", f"centre {centre.code} has no account with courier {chosen!r}")
    return Courier(chosen)


def check_parties(payload: OrderCreate) -> None:
    # No courier collects money at pickup (couriers-vn.md §9.16); a round trip's fee goes with its delivery.
    if payload.kind is Kind.PICKUP and payload.payment.agency_fee:
        raise FieldError("payment.agency_fee", "a pickup cannot collect the agency fee: couriers collect at delivery")
    if payload.kind is Kind.PICKUP and payload.documents_to_recover:
        raise FieldError("documents_to_recover", "only a delivery recovers documents from the citizen")
    if payload.kind is Kind.PICKUP and payload.authorised_recipient is not None:
        raise FieldError("authorised_recipient", "a pickup has no recipient at the citizen's end")


def prepare(
    payload: OrderCreate,
    *,
    centre: Centre,
    new_id: Callable[[str], str],
    now: datetime,
) -> list[Order]:
    """One order per leg: a round trip is a pickup now and a delivery on hold until the result is ready."""
    check_parties(payload)
    procedure = procedure_for(centre, payload.procedure_code, payload.procedure_name)
    courier = courier_for(centre, payload.courier, procedure, payload.kind)
    address, note = _address(payload)
    resolve(address)  # an unknown or mismatched unit is refused here, naming the field
    citizen = Citizen(
        name=" ".join(payload.citizen.name.split()),
        phone=normalise_phone(payload.citizen.phone, "citizen.phone"),
        email=payload.citizen.email,
        id_number=payload.citizen.id_number,
        language=payload.citizen.language,
    )
    legs = [Kind.PICKUP, Kind.DELIVERY] if payload.kind is Kind.ROUND_TRIP else [payload.kind]
    ids = [new_id(address.province_code) for _ in legs]
    orders = []
    for position, (kind, order_id) in enumerate(zip(legs, ids, strict=True)):
        linked = ids[1 - position] if len(ids) == 2 else None
        orders.append(
            Order(
                id=order_id,
                centre=centre.code,
                kind=kind,
                dossier_code=payload.dossier_code,
                procedure_code=payload.procedure_code,
                procedure_name=payload.procedure_name or procedure.name,
                appointment_date=payload.appointment_date,
                citizen=citizen,
                authorised_recipient=payload.authorised_recipient if kind is Kind.DELIVERY else None,
                address=address,
                address_note=note,
                documents=tuple(payload.documents),
                documents_to_recover=tuple(payload.documents_to_recover) if kind is Kind.DELIVERY else (),
                payment=payload.payment,
                proof_of_delivery=payload.proof_of_delivery,
                courier=courier,
                status=Status.ACCEPTED,
                linked_order_id=linked,
                on_hold=linked is not None and kind is Kind.DELIVERY,
                created_at=now,
                updated_at=now,
            )
        )
    return orders


def _address(payload: OrderCreate) -> tuple[Address, str | None]:
    """The 2025 address as given, or converted from a legacy one with a note of what it became."""
    if payload.address is not None and payload.legacy_address is not None:
        raise FieldError("legacy_address", "give either address (2025 units) or legacy_address, not both")
    if payload.address is not None:
        return payload.address, None
    if payload.legacy_address is None:
        raise FieldError("address", "address is required (province_code, ward_code, street on the 2025 units)")
    conversion = convert(payload.legacy_address)
    return conversion.address(), conversion.note
