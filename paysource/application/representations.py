"""How objects look on the wire: one function per object, from aggregates or rows."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from uuid import UUID

from paysource.application.fastpath import Answer
from paysource.application.ids import Kind, encode, encode_optional
from paysource.application.results import CustomerState, PaymentState, RefundState
from paysource.domain.api_key import Role
from paysource.domain.customer import Customer
from paysource.domain.dispute import Dispute
from paysource.domain.fx import Conversion
from paysource.domain.merchant import Merchant
from paysource.domain.payment import Payment, PaymentStatus
from paysource.domain.personal import ERASED
from paysource.domain.refund import Refund
from paysource.domain.settlement import DISPUTE_KINDS, Settlement

# Event fields that are envelope, not data.
_ENVELOPE = {"originator_id", "originator_version", "timestamp", "meta", "originator_topic"}


def timestamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _optional_timestamp(moment: datetime | None) -> str | None:
    return None if moment is None else timestamp(moment)


def payment(p: Payment | PaymentState) -> dict[str, Any]:
    risk = None
    if p.risk is not None:
        risk = {
            "outcome": str(p.risk.outcome),
            "score": p.risk.score,
            "reasons": list(p.risk.reasons),
        }
    return {
        "id": encode(Kind.PAYMENT, p.id),
        "object": "payment",
        "merchant": encode(Kind.MERCHANT, p.merchant_id),
        "customer": encode_optional(Kind.CUSTOMER, p.customer_id),
        "status": str(p.status),
        "amount": p.amount_minor,
        "amount_capturable": p.amount_capturable,
        "amount_captured": p.amount_captured,
        "amount_refunded": p.amount_refunded,
        "amount_refund_pending": p.amount_refund_pending,
        "fee": p.fee_minor,
        "currency": p.currency,
        "capture_method": str(p.capture_method),
        "card": {"brand": p.card.brand, "bin": p.card.bin, "last4": p.card.last4},
        "risk": risk,
        "decline_code": p.decline_code,
        "cancellation_reason": str(p.cancellation_reason) if p.cancellation_reason else None,
        "description": p.description,
        "metadata": p.metadata,
        "relay_failures": list(p.relay_failures),
        "settlement_hold": str(p.settlement_hold) if p.settlement_hold else None,
        "relay_resolution": dict(p.relay_resolution) if p.relay_resolution else None,
        "capture_confirmed": _optional_timestamp(p.capture_confirmed_at),
        "created": timestamp(p.created_on),
        "updated": timestamp(p.modified_on),
        "version": p.version,
    }


def payment_created(p: Payment | PaymentState, replayed: bool = False) -> Answer:
    """What creating a payment answers, whichever API is asked (GraphQL keeps this, REST's
    answer, for the key): 202 while processing, 200 once a `Prefer: wait` saw more."""
    status = 202 if p.status == PaymentStatus.PROCESSING else 200
    return Answer(status, payment(p), replayed)


def payment_row(row: dict[str, Any]) -> dict[str, Any]:
    """A payment from the `payments` read model (lists): the same shape as `payment`."""
    risk = None
    if row["risk_outcome"] is not None:
        reasons = list(row["risk_reasons"] or [])
        risk = {"outcome": row["risk_outcome"], "score": row["risk_score"], "reasons": reasons}
    return {
        "id": encode(Kind.PAYMENT, row["id"]),
        "object": "payment",
        "merchant": encode(Kind.MERCHANT, row["merchant_id"]),
        "customer": encode_optional(Kind.CUSTOMER, row["customer_id"]),
        "status": row["status"],
        "amount": row["amount_minor"],
        "amount_capturable": row["amount_capturable_minor"],
        "amount_captured": row["amount_captured_minor"],
        "amount_refunded": row["amount_refunded_minor"],
        "amount_refund_pending": row["amount_refund_pending_minor"],
        "fee": row["fee_minor"],
        "currency": row["currency"],
        "capture_method": row["capture_method"],
        "card": {"brand": row["card_brand"], "bin": row["card_bin"], "last4": row["card_last4"]},
        "risk": risk,
        "decline_code": row["decline_code"],
        "cancellation_reason": row["cancellation_reason"],
        "description": row["description"],
        "metadata": row["metadata"],
        "relay_failures": list(row["relay_failures"]),
        "settlement_hold": row["settlement_hold"],
        "relay_resolution": row["relay_resolution"],
        "capture_confirmed": _optional_timestamp(row["capture_confirmed_at"]),
        "created": timestamp(row["created_at"]),
        "updated": timestamp(row["updated_at"]),
        "version": row["version"],
    }


def refund(r: Refund | RefundState) -> dict[str, Any]:
    return {
        "id": encode(Kind.REFUND, r.id),
        "object": "refund",
        "payment": encode(Kind.PAYMENT, r.payment_id),
        "merchant": encode(Kind.MERCHANT, r.merchant_id),
        "status": str(r.status),
        "amount": r.amount_minor,
        "currency": r.currency,
        "reason": str(r.reason) if r.reason else None,
        "failure_code": r.failure_code,
        "created": timestamp(r.created_on),
        "version": r.version,
    }


def refund_row(row: dict[str, Any]) -> dict[str, Any]:
    """A refund from the `payments` read model's refunds (lists): the shape of `refund`."""
    return {
        "id": encode(Kind.REFUND, row["id"]),
        "object": "refund",
        "payment": encode(Kind.PAYMENT, row["payment_id"]),
        "merchant": encode(Kind.MERCHANT, row["merchant_id"]),
        "status": row["status"],
        "amount": row["amount_minor"],
        "currency": row["currency"],
        "reason": row["reason"],
        "failure_code": row["failure_code"],
        "created": timestamp(row["created_at"]),
        "version": row["version"],
    }


def settlement(s: Settlement, *, with_items: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": encode(Kind.SETTLEMENT, s.id),
        "object": "settlement",
        "merchant": encode(Kind.MERCHANT, s.merchant_id),
        "currency": s.currency,
        "cutoff": timestamp(s.cutoff),
        "status": "awaiting_rate" if s.waiting_reason else str(s.status),
        "gross": s.gross_minor,
        "refunds": s.refunds_minor,
        "fees": s.fees_minor,
        "carried_in": s.carried_in_minor,
        "disputes": s.disputes_minor,
        "net": s.net_minor,
        "payout_currency": s.payout_currency,
        "payout": s.payout_minor,
        "fx": _fx(s.conversion),
        "waiting_reason": s.waiting_reason,
        "payout_reference": s.payout_reference,
        "failure_reason": s.failure_reason,
        "superseded_by": encode_optional(Kind.SETTLEMENT, s.superseded_by),
        "created": timestamp(s.created_on),
        "version": s.version,
    }
    if with_items:
        body["items"] = [
            {
                "kind": str(item.kind),
                "payment": encode_optional(Kind.PAYMENT, item.payment_id),
                "refund": encode(Kind.REFUND, item.ref_id) if item.kind == "refund" else None,
                "settlement": encode(Kind.SETTLEMENT, item.ref_id)
                if item.kind == "carried_forward"
                else None,
                "dispute": encode(Kind.DISPUTE, item.ref_id)
                if item.kind in DISPUTE_KINDS
                else None,
                "amount": item.amount_minor,
                "fee": item.fee_minor,
                "net": item.net_minor,
            }
            for item in s.items
        ]
        if s.conversion is not None:
            for shown, converted in zip(body["items"], s.conversion.item_nets, strict=True):
                shown["net_converted"] = converted
    return body


def _fx(conversion: Conversion | None) -> dict[str, Any] | None:
    """The conversion's rate and rounding difference; the rate as a decimal string."""
    if conversion is None:
        return None
    return {
        "pair": conversion.pair,
        "rate": str(conversion.rate),
        "rate_valid_from": timestamp(conversion.rate_valid_from),
        "rate_source": conversion.rate_source,
        "items_converted": conversion.items_minor,
        "difference": conversion.fx_difference_minor,
    }


def _fx_row(row: dict[str, Any]) -> dict[str, Any] | None:
    if row["fx_pair"] is None:
        return None
    return {
        "pair": row["fx_pair"],
        "rate": str(row["fx_rate"]),
        "rate_valid_from": timestamp(row["fx_rate_valid_from"]),
        "difference": row["fx_difference_minor"],
    }


def settlement_row(row: dict[str, Any]) -> dict[str, Any]:
    """A settlement from the `settlements` read model (lists; without items)."""
    return {
        "id": encode(Kind.SETTLEMENT, row["id"]),
        "object": "settlement",
        "merchant": encode(Kind.MERCHANT, row["merchant_id"]),
        "currency": row["currency"],
        "cutoff": timestamp(row["cutoff"]),
        "status": row["status"],
        "gross": row["gross_minor"],
        "refunds": row["refunds_minor"],
        "fees": row["fees_minor"],
        "carried_in": row["carried_in_minor"],
        "disputes": row["disputes_minor"],
        "net": row["net_minor"],
        "payout_currency": (row["payout_currency"] or row["currency"]).strip(),
        "payout": row["net_minor"] if row["payout_minor"] is None else row["payout_minor"],
        "fx": _fx_row(row),
        "waiting_reason": row["waiting_reason"],
        "payout_reference": row["payout_reference"],
        "failure_reason": row["failure_reason"],
        "superseded_by": encode_optional(Kind.SETTLEMENT, row["superseded_by"]),
        "created": timestamp(row["created_at"]),
        "version": row["version"],
        "items_count": row["items_count"],
    }


def customer(c: Customer | CustomerState) -> dict[str, Any]:
    return {
        "id": encode(Kind.CUSTOMER, c.id),
        "object": "customer",
        "merchant": encode(Kind.MERCHANT, c.merchant_id),
        "name": c.name,
        "email": c.email,
        "metadata": c.metadata,
        "created": timestamp(c.created_on),
        "erased": c.erased,
    }


def customer_row(row: dict[str, Any]) -> dict[str, Any]:
    """A customer from the `directory` read model (lists): the shape of `customer`."""
    return {
        "id": encode(Kind.CUSTOMER, row["id"]),
        "object": "customer",
        "merchant": encode(Kind.MERCHANT, row["merchant_id"]),
        "name": row["name"],
        "email": row["email"],
        "metadata": row["metadata"],
        "created": timestamp(row["created_at"]),
        # The read model keeps no flag of its own: erasure overwrites the name with
        # ERASED (a customer actually named "[erased]" would also list as erased).
        "erased": row["name"] == ERASED,
    }


def api_key(
    key_id: UUID,
    role: Role,
    merchant_id: UUID | None,
    *,
    secret: str | None = None,
    revoked: bool = False,
) -> dict[str, Any]:
    """An API key; `secret` (the key itself) only in the answer that minted it."""
    return {
        "id": encode(Kind.API_KEY, key_id),
        "object": "api_key",
        "role": str(role),
        "merchant": encode_optional(Kind.MERCHANT, merchant_id),
        "api_key": secret,
        "revoked": revoked,
    }


def merchant(m: Merchant, *, api_key: str | None = None) -> dict[str, Any]:
    return {
        "id": encode(Kind.MERCHANT, m.id),
        "object": "merchant",
        "name": m.name,
        "email": m.email,
        "settlement_currency": m.settlement_currency,
        "fee_basis_points": m.fees.basis_points,
        # The fixed fee in the settlement currency, and the merchant's own per currency
        # (any other currency takes the platform's default: docs/settlement.md, "Fees").
        "fee_fixed_minor": m.fees.fixed_minor(m.settlement_currency),
        "fee_fixed": m.fees.overrides_dict(),
        "created": timestamp(m.created_on),
        "api_key": api_key,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def event(e: Any) -> dict[str, Any]:
    """An event as auditors see it: type, version, time, data and who acted."""
    fields = {f.name: getattr(e, f.name) for f in dataclasses.fields(e)}
    return {
        "type": type(e).__qualname__,
        "version": e.originator_version,
        "time": timestamp(e.timestamp),
        "data": _jsonable({k: v for k, v in fields.items() if k not in _ENVELOPE}),
        "metadata": dict(getattr(e, "meta", {})),
    }


def dispute(d: Dispute) -> dict[str, Any]:
    """A dispute from the event store, with its evidence (the merchant's own text)."""
    return {
        **_dispute_fields(
            dispute_id=d.id,
            merchant_id=d.merchant_id,
            payment_id=d.payment_id,
            status=str(d.status),
            amount_minor=d.amount_minor,
            fee_minor=d.fee_minor,
            currency=d.currency,
            reason=str(d.reason),
            due_by=d.due_by,
            outcome_reason=d.outcome_reason,
            created=d.created_on,
            version=d.version,
        ),
        "evidence": dict(d.evidence),
        "evidence_submitted": _optional_time(d.evidence_submitted_at),
    }


def dispute_row(row: dict[str, Any]) -> dict[str, Any]:
    """A dispute from the `disputes` read model (lists; without its evidence text)."""
    return {
        **_dispute_fields(
            dispute_id=row["id"],
            merchant_id=row["merchant_id"],
            payment_id=row["payment_id"],
            status=row["status"],
            amount_minor=row["amount_minor"],
            fee_minor=row["fee_minor"],
            currency=row["currency"],
            reason=row["reason"],
            due_by=row["due_by"],
            outcome_reason=row["outcome_reason"],
            created=row["created_at"],
            version=row["version"],
        ),
        "evidence_submitted": _optional_time(row["evidence_submitted_at"]),
    }


def _optional_time(moment: datetime | None) -> str | None:
    return None if moment is None else timestamp(moment)


def _dispute_fields(
    *,
    dispute_id: UUID,
    merchant_id: UUID,
    payment_id: UUID,
    status: str,
    amount_minor: int,
    fee_minor: int,
    currency: str,
    reason: str,
    due_by: datetime,
    outcome_reason: str | None,
    created: datetime,
    version: int,
) -> dict[str, Any]:
    return {
        "id": encode(Kind.DISPUTE, dispute_id),
        "object": "dispute",
        "payment": encode(Kind.PAYMENT, payment_id),
        "merchant": encode(Kind.MERCHANT, merchant_id),
        "status": status,
        "amount": amount_minor,
        "fee": fee_minor,
        "currency": currency,
        "reason": reason,
        "due_by": timestamp(due_by),
        "outcome_reason": outcome_reason,
        "created": timestamp(created),
        "version": version,
    }
