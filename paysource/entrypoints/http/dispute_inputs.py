"""Request bodies of the dispute commands (REST and GraphQL alike).

Evidence is text fields only; their sizes are checked by the domain
(`domain/dispute_evidence.py`), which names the field in its 422.
"""

from __future__ import annotations

from typing import Any, Literal

from paysource.entrypoints.http.inputs import Body, ExternalId, PaymentAmount

Reason = Literal[
    "fraudulent",
    "product_not_received",
    "product_unacceptable",
    "duplicate",
    "subscription_canceled",
    "credit_not_processed",
    "general",
]
# One list of reasons: the domain's (tests/unit/test_disputes.py holds them equal).


class DisputeIn(Body):
    payment: ExternalId
    amount: PaymentAmount | None = None
    reason: Reason = "general"


class DisputeOutcomeIn(Body):
    outcome: Literal["won", "lost"]


class EvidenceIn(Body):
    product_description: str | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    customer_communication: str | None = None
    shipping_tracking: str | None = None
    refund_policy: str | None = None
    cancellation_policy: str | None = None
    uncategorized_text: str | None = None

    def evidence(self) -> dict[str, str]:
        sent: dict[str, Any] = self.model_dump(exclude_none=True)
        return {name: str(text) for name, text in sent.items()}
