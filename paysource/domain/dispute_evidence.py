"""What a merchant may send as evidence for a dispute: named text fields only.

No files (we store no documents), each field and the whole answer size-limited, no
card numbers (evidence is kept in events forever).

Fields that name, quote or trace the customer are personal data (`PERSONAL_EVIDENCE`):
stored sealed under the dispute's key, erased with the customer (docs/audit.md). Only
the merchant's own statements, the same whoever disputes, stay readable.
"""

from __future__ import annotations

from paysource.domain.card import contains_pan
from paysource.domain.errors import CardNumberRefused, IllegalTransition, InvalidValue
from paysource.domain.personal import ERASED
from paysource.domain.profile import check_text

EVIDENCE_FIELDS = (
    "product_description",
    "customer_name",
    "customer_email",
    "customer_communication",
    "shipping_tracking",
    "refund_policy",
    "cancellation_policy",
    "uncategorized_text",
)
# A tracking number leads to the customer's address; free text may hold anything.
PERSONAL_EVIDENCE = frozenset(
    {
        "customer_name",
        "customer_email",
        "customer_communication",
        "shipping_tracking",
        "uncategorized_text",
    }
)
MAX_FIELD_LENGTH = 5_000
MAX_TOTAL_LENGTH = 20_000


def check_evidence(evidence: dict[str, str]) -> dict[str, str]:
    if not evidence:
        raise InvalidValue("send at least one evidence field", field="evidence")
    for name, text in evidence.items():
        _check_field(name, text)
    total = sum(len(text) for text in evidence.values())
    if total > MAX_TOTAL_LENGTH:
        raise InvalidValue(
            f"evidence totals {total} characters, at most {MAX_TOTAL_LENGTH} are taken",
            field="evidence",
        )
    return dict(sorted(evidence.items()))


def is_personal_evidence(name: str) -> bool:
    return name in PERSONAL_EVIDENCE


def erase_evidence(evidence: dict[str, str]) -> dict[str, str]:
    """`evidence` with every personal value replaced by ERASED (field names stay)."""
    return {k: ERASED if is_personal_evidence(k) else v for k, v in evidence.items()}


def check_impersonal(evidence: dict[str, str]) -> None:
    """Once the customer is erased, evidence may no longer name or quote them."""
    personal = sorted(k for k in evidence if is_personal_evidence(k))
    if personal:
        raise IllegalTransition(
            f"the customer was erased: send the evidence without {', '.join(personal)}",
            code="customer_erased",
        )


def _check_field(name: str, text: str) -> None:
    if name not in EVIDENCE_FIELDS:
        raise InvalidValue(
            f"unknown evidence field; one of {', '.join(EVIDENCE_FIELDS)}", field="evidence"
        )
    check_text(text, field=name)
    if not text.strip():
        raise InvalidValue(f"{name} is empty", field=name)
    if len(text) > MAX_FIELD_LENGTH:
        raise InvalidValue(f"{name} is longer than {MAX_FIELD_LENGTH} characters", field=name)
    if contains_pan(text):
        raise CardNumberRefused(f"{name} looks like it holds a card number", field=name)
