"""Events go to Postgres in binary (eventlog._insert_in_binary), and read back the same."""

from __future__ import annotations

from uuid import uuid4

from paysource.bootstrap import Container
from paysource.domain.fees import FeeSchedule
from paysource.domain.merchant import Merchant
from paysource.domain.meta import ActorKind, Meta


def test_events_are_inserted_in_binary_and_read_back_unchanged(container: Container) -> None:
    store = container.router.all()[0].store
    statement = store.recorder.insert_events_statement  # type: ignore[attr-defined]
    assert "%b::" in statement.as_string(None)
    name = "Ünïcode \\ 'quoted' \x01 bytes"  # what text escaping had to get right
    merchant = Merchant.register(
        merchant_id=uuid4(),
        name=name,
        email=None,
        settlement_currency="USD",
        fees=FeeSchedule(),
        request_hash="h",
        meta=Meta(ActorKind.ADMIN, "test"),
    )
    store.save(merchant)
    found = store.get(merchant.id, Merchant)
    assert found is not None
    assert (found.name, found.version) == (name, merchant.version)
