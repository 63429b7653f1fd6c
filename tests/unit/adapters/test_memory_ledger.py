"""The simulator's in-memory ledger answers its lookups from indexes: the same answers
as scanning every operation it holds, whatever was asked before."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from paysource.adapters.acquirer_sim import MemoryLedger, Operation

KINDS = ("authorize", "capture", "refund", "void")
operations = st.builds(
    Operation,
    key=st.sampled_from([f"key-{n}" for n in range(12)]),
    kind=st.sampled_from(KINDS),
    payment_id=st.sampled_from(["pay-a", "pay-b", "pay-c", ""]),
    reference=st.sampled_from(["sim-1", "sim-2", ""]),
    amount_minor=st.integers(0, 10_000),
    result=st.just({}),
)


@given(st.lists(operations, max_size=40))
def test_lookups_answer_as_a_scan_of_every_operation_would(asked: list[Operation]) -> None:
    ledger = MemoryLedger()
    held: dict[str, Operation] = {}  # the first operation of each key, as asked
    requests: dict[str, int] = {}
    for operation in asked:
        answered = ledger.once(operation)
        held.setdefault(operation.key, operation)
        requests[operation.key] = requests.get(operation.key, 0) + 1
        assert (answered.key, answered.payment_id, answered.reference) == (
            held[operation.key].key,
            held[operation.key].payment_id,
            held[operation.key].reference,
        )
        assert answered.requests == requests[operation.key]

    every = list(held.values())  # in the order keys were first asked
    for reference in ("sim-1", "sim-2", ""):
        for kind in KINDS:
            found = ledger.find(reference=reference, kind=kind)
            expected = [o for o in every if o.reference == reference and o.kind == kind]
            assert [o.key for o in found] == [o.key for o in expected]
    for payment_id in ("pay-a", "pay-b", "pay-c", ""):
        expected = [o.key for o in every if o.payment_id == payment_id]
        assert [o.key for o in ledger.operations(payment_id)] == expected
    for kind in KINDS:
        wanted = ["pay-a", "pay-c", "pay-a"]
        found = ledger.of_payments(wanted, kind)
        expected = [o for o in every if o.payment_id in set(wanted) and o.kind == kind]
        assert sorted(o.key for o in found) == sorted(o.key for o in expected)
