"""Importing the acquirer's and the bank's files: match, clear, record the breaks.

import ─▶ parse the whole file (a malformed line refuses it: nothing written)
       ─▶ the file's digest names the import: imported before → the same answer
          (a keyed request: its key's claim answers first, as every keyed command's)
       ─▶ the ledger's items for the file's day and lines (the read model nominates)
       ─▶ match (domain) ─▶ one Clearing per matched item + the import, one save

An item cleared by another file meanwhile conflicts on save (its Clearing's version
1), and the import runs again, seeing it cleared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from paysource.application import statements
from paysource.application.caught_up import once
from paysource.application.eventlog import EventStore
from paysource.application.idempotency import Claims, Outcome
from paysource.application.merchants import PLATFORM_SCOPE
from paysource.domain.idempotency import IdempotencyRecord
from paysource.domain.meta import Meta
from paysource.domain.reconciliation import (
    Break,
    Clearing,
    Expected,
    ItemKey,
    ReconciliationImport,
    Source,
    StatementLine,
    clearing_id,
    import_id,
    match,
)


class LedgerItems(Protocol):
    def expected(
        self, *, source: Source, days: frozenset[date], items: frozenset[ItemKey]
    ) -> list[Expected]:
        """The ledger's items of `source`'s kinds dated on `days`, or named in `items`."""
        ...


@dataclass(frozen=True, slots=True)
class ImportResult:
    id: str
    source: Source
    days: tuple[date, ...]
    lines: int
    matched: int
    breaks: tuple[Break, ...]
    replayed: bool = False
    # Whether the import, this one or the keyed one it replays, recorded the file (REST's
    # 201), rather than finding it imported before (200).
    imported: bool = True

    @classmethod
    def of(cls, found: ReconciliationImport, *, replayed: bool, imported: bool) -> ImportResult:
        return cls(
            str(found.id), found.source, tuple(found.days), found.lines, found.matched,
            tuple(found.breaks), replayed, imported,
        )  # fmt: skip


# What a keyed import's claim says it answered: the file it imported (201), or one
# imported before (200).
_IMPORTED = "reconciliation_import"
_FOUND = "reconciliation_import_found"


class ReconciliationService:
    def __init__(
        self, store: EventStore, items: LedgerItems, caught_up: Callable[[], None] | None = None
    ) -> None:
        self._store = store
        self._claims = Claims(store)
        self._items = items
        # The expected items are the ledger's: it must have seen the captures committed
        # before the import, or their lines are false breaks (application/caught_up.py).
        self._caught_up = caught_up or (lambda: None)

    def import_file(
        self,
        *,
        source: Source,
        text: str,
        meta: Meta,
        day: date | None = None,
        idempotency_key: str | None = None,
        request_hash: str = "",
    ) -> ImportResult:
        """Import one file. The same file again changes nothing and answers the same.

        A keyed request (finance's or an admin's: the platform's keys, as a merchant's
        registration) is answered once: its claim points at the import it made, or found,
        and a replay answers that with the first status; the same key with another file,
        source or date is `idempotency_key_reused`. `request_hash` must cover the file.
        """
        statement = statements.parse(source, text, day=day)

        caught_up = once(self._caught_up)

        def attempt() -> Outcome[ReconciliationImport]:
            existing = self._store.get(import_id(source, statement.digest), ReconciliationImport)
            if existing is not None:
                # Imported before: the key now names this answer.
                claim = self._claim(existing, idempotency_key, _FOUND, request_hash, meta)
                if claim is not None:
                    self._store.save(claim)
                return Outcome(existing, replayed=True)
            caught_up()  # a replay above needs no read model
            expected = self._items.expected(
                source=source, days=statement.days, items=statement.items
            )
            named = statement.items | {item.item for item in expected}
            matching = match(
                statement.lines, expected, cleared=self._cleared(named), days=statement.days
            )
            record = ReconciliationImport.record(
                source=source, digest=statement.digest, days=statement.days,
                lines=len(statement.lines), matching=matching, meta=meta,
            )  # fmt: skip
            clearings = [
                Clearing.clear(pair, source=source, import_of=record.id, meta=meta)
                for pair in matching.matched
            ]
            claim = self._claim(record, idempotency_key, _IMPORTED, request_hash, meta)
            self._store.save(record, *clearings, claim)
            return Outcome(record)

        outcome = self._claims.run(
            merchant_id=PLATFORM_SCOPE,
            key=idempotency_key,
            request_hash=request_hash,
            kind=ReconciliationImport,
            attempt=attempt,
        )
        imported = not outcome.replayed or (
            idempotency_key is not None
            and self._claims.recorded(
                merchant_id=PLATFORM_SCOPE, key=idempotency_key, operation=_IMPORTED
            )
        )
        return ImportResult.of(outcome.value, replayed=outcome.replayed, imported=imported)

    @staticmethod
    def _claim(
        found: ReconciliationImport,
        key: str | None,
        operation: str,
        request_hash: str,
        meta: Meta,
    ) -> IdempotencyRecord | None:
        """The claim of a keyed import, pointing at the import it answered."""
        if key is None:
            return None
        return IdempotencyRecord.record(
            merchant_id=PLATFORM_SCOPE,
            key=key,
            operation=operation,
            request_hash=request_hash,
            target=found,
            meta=meta,
        )

    def _cleared(self, items: frozenset[ItemKey]) -> dict[ItemKey, StatementLine]:
        """The items an earlier file cleared, with the line that did: the event store
        decides, not a read model, so an item is never cleared twice."""
        found = {item: self._store.get(clearing_id(item), Clearing) for item in items}
        return {item: clearing.fact for item, clearing in found.items() if clearing is not None}
