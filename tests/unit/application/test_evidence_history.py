"""Once a dispute's evidence is erased, no view of its past shows the personal values:
not its `EvidenceSubmitted` event (`/events`), not an earlier version (`?as_of=`), not
the replayed answer of a retried submission. Sealing alone does not ensure it: evidence
stored before sealing existed is plain in its event, and another process may still hold
the dispute's key for a minute (docs/audit.md, "Erasing personal data")."""

from __future__ import annotations

import string
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from paysource.adapters.pii_crypto import MemoryPersonalDataVault
from paysource.application.as_of import load_as_of
from paysource.application.disputes import DisputeService
from paysource.application.eventlog import EventStore
from paysource.domain.dispute import Dispute
from paysource.domain.dispute_evidence import EVIDENCE_FIELDS, erase_evidence
from tests.unit.domain.domain_builders import (
    MERCHANT_ID,
    T0,
    captured_payment,
    dispute_of,
    merchant_meta,
)

VALUES = st.text(string.ascii_letters, min_size=16, max_size=40)
EVIDENCE = st.dictionaries(st.sampled_from(EVIDENCE_FIELDS), VALUES, min_size=1)
KEY = "evidence-1"
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


def opened_dispute(store: EventStore) -> Dispute:
    opened = dispute_of(captured_payment(confirmed=True))
    store.save(opened)
    return opened


def answered(store: EventStore, evidence: dict[str, str]) -> Dispute:
    """A dispute answered with `evidence` under KEY; then erased by a service whose
    vault is not the store's, so the store still opens the evidence: a process that
    holds the key in its cache, or (no vault) evidence stored before sealing existed."""
    opened = opened_dispute(store)
    submitted = submit(DisputeService(store), opened, evidence)
    DisputeService(store).erase_evidence(dispute=opened.id, meta=merchant_meta(T0 + HOUR))
    return submitted


def submit(service: DisputeService, dispute: Dispute, evidence: dict[str, str]) -> Dispute:
    return service.submit_evidence(
        merchant_id=MERCHANT_ID,
        dispute=dispute.id,
        evidence=evidence,
        idempotency_key=KEY,
        request_hash="e",
        meta=merchant_meta(T0 + MINUTE),
    ).value


@settings(max_examples=40, deadline=None)
@given(evidence=EVIDENCE, sealed=st.booleans())
def test_no_view_of_an_erased_disputes_past_shows_its_personal_evidence(
    evidence: dict[str, str], sealed: bool
) -> None:
    store = EventStore(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        vault=MemoryPersonalDataVault() if sealed else None,
    )
    first = answered(store, evidence)
    service = DisputeService(store)
    erased = erase_evidence(evidence)

    history = service.history(dispute=first.id)
    at_submission = load_as_of(store, first.id, Dispute, T0 + 2 * MINUTE)
    retried = submit(service, first, evidence)

    shown = [e.evidence for e in history if isinstance(e, Dispute.EvidenceSubmitted)]
    assert shown == [erased]
    assert (at_submission.version, at_submission.evidence) == (first.version, erased)
    assert (retried.version, retried.evidence) == (first.version, erased)
    assert service.get(merchant_id=None, dispute=first.id).evidence == erased


def test_a_later_version_stamped_earlier_gives_a_prefix_of_versions_as_of_a_moment() -> None:
    """Hosts' clocks differ, and a retried command keeps its request's time: version 3
    may carry an earlier time than version 2. A moment between them is the dispute up to
    the last version stamped by then, 3 (with 2 in it), as `load_as_of` takes it for
    every other object; never a fold of versions 1 and 3 alone, which fails."""
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    opened = opened_dispute(store)
    service = DisputeService(store)
    submitted = submit(service, opened, {"product_description": "a mug"})  # at T0 + 1 min
    service.erase_evidence(dispute=opened.id, meta=merchant_meta(T0 + MINUTE / 2))

    between = load_as_of(store, opened.id, Dispute, T0 + MINUTE * 3 / 4)

    assert between.version == 3  # the erasure (v3) is stamped before the moment
    assert submitted.version == 2
