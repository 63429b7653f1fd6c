"""The simulator keeps the authorizations it made: a capture, void or refund of one
needs no lookup in its ledger, and answers as one with the lookup would."""

from __future__ import annotations

from uuid import uuid4

import pytest

from paysource.adapters import acquirer_sim
from paysource.adapters.acquirer_sim import MemoryLedger, Operation, SimulatedAcquirer
from paysource.application.ports import AcquirerRefused
from paysource.domain.card import CardDetails
from paysource.domain.money import Money

VISA = CardDetails(token="tok_visa", brand="visa", bin="424242", last4="4242")
USD = Money(1000, "USD")


class CountedLedger(MemoryLedger):
    def __init__(self) -> None:
        super().__init__()
        self.finds = 0

    def find(self, *, reference: str, kind: str) -> list[Operation]:
        self.finds += 1 if kind == "authorize" else 0
        return super().find(reference=reference, kind=kind)


def _authorized(acquirer: SimulatedAcquirer) -> str:
    result = acquirer.authorize(
        idempotency_key=str(uuid4()), payment_id=uuid4(), amount=USD, card=VISA
    )
    assert result.approved
    assert result.reference
    return result.reference


def test_a_capture_of_an_authorization_made_here_asks_no_ledger() -> None:
    ledger = CountedLedger()
    acquirer = SimulatedAcquirer(ledger)
    reference = _authorized(acquirer)

    acquirer.capture(idempotency_key="c1", reference=reference, amount=USD)
    acquirer.void(idempotency_key="v1", reference=reference)

    assert ledger.finds == 0
    with pytest.raises(AcquirerRefused):  # above the authorization: as before
        acquirer.capture(idempotency_key="c2", reference=reference, amount=Money(1001, "USD"))


def test_another_simulator_over_the_same_ledger_finds_it_there_once() -> None:
    ledger = CountedLedger()
    reference = _authorized(SimulatedAcquirer(ledger))
    other = SimulatedAcquirer(ledger)  # another worker process, say

    other.capture(idempotency_key="c1", reference=reference, amount=USD)
    other.refund(idempotency_key="r1", reference=reference, amount=Money(400, "USD"))

    assert ledger.finds == 1
    with pytest.raises(AcquirerRefused):
        other.capture(idempotency_key="c2", reference="sim_unknown", amount=USD)


def test_it_keeps_only_the_newest_authorizations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acquirer_sim, "AUTHORIZATIONS_KEPT", 2)
    ledger = CountedLedger()
    acquirer = SimulatedAcquirer(ledger)
    oldest, *newest = [_authorized(acquirer) for _ in range(3)]

    for reference in newest:
        acquirer.capture(idempotency_key=f"{reference}:c", reference=reference, amount=USD)
    assert ledger.finds == 0
    acquirer.capture(idempotency_key="old:c", reference=oldest, amount=USD)
    assert ledger.finds == 1  # let go, found in the ledger again
