"""Reconciliation: what the acquirer and the bank say they moved, against our ledger.

A statement (the acquirer's settlement file, the bank's statement) is a list of
`StatementLine`s; the ledger offers the `Expected` items of the same kinds. `match`
pairs them by (kind, key) and names every disagreement a `Break`:

    missing         in our ledger (for the statement's days), in no line
    extra           a line for nothing in our ledger, or for an item an earlier file
                    cleared with another line (the same line again is no news)
    amount_differs  a line for an item, with another amount or currency

Each matched line clears its item once and for all: a `Clearing` aggregate per item,
whose version 1 is the claim (a second file with the same line finds it cleared). A
whole import is one `ReconciliationImport`, its id derived from the file's digest,
saved with its clearings in one transaction: re-importing a file finds it, and a
failed import leaves nothing.

Line kinds are a table (`LINE_KINDS`): a new kind is a row there, a posting rule in
`domain/ledger.py` and a ledger query in the read model (as chargebacks, `dispute` and
`dispute_won`, were added).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Any, Self
from uuid import UUID, uuid5

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.meta import Meta

# Fixed forever: ids derived from them name stored aggregates.
_IMPORT_NAMESPACE = UUID("6f3c2b1a-9d8e-4c7b-a5f4-e3d2c1b0a987")
_CLEARING_NAMESPACE = UUID("1a2b3c4d-5e6f-4a8b-9c0d-e1f2a3b4c5d6")


class Source(StrEnum):
    ACQUIRER = "acquirer"
    BANK = "bank"


class BreakKind(StrEnum):
    MISSING = "missing"
    EXTRA = "extra"
    AMOUNT_DIFFERS = "amount_differs"


@dataclass(frozen=True, slots=True)
class LineKind:
    """A kind of line: its source, and the sign of the money it moves to us (the
    acquirer's net of a capture is gross - fee; of a refund, -(gross + fee))."""

    name: str
    source: Source
    net_sign: int


LINE_KINDS: dict[str, LineKind] = {
    "capture": LineKind("capture", Source.ACQUIRER, +1),
    "refund": LineKind("refund", Source.ACQUIRER, -1),
    # A chargeback: the acquirer took the disputed amount back (its key: the dispute).
    "dispute": LineKind("dispute", Source.ACQUIRER, -1),
    # The chargeback reversed: the dispute was won and the acquirer paid the amount back.
    "dispute_won": LineKind("dispute_won", Source.ACQUIRER, +1),
    "payout": LineKind("payout", Source.BANK, -1),
}

ItemKey = tuple[str, UUID]


@dataclass(frozen=True, slots=True, order=True)
class StatementLine:
    """One line of a statement. `key` names our object: the payment of a capture, the
    refund of a refund, the dispute of a chargeback or its reversal, the settlement of
    a payout. `number` is the line in the file
    (the header is line 1)."""

    kind: str
    key: UUID
    reference: str
    currency: str
    amount_minor: int
    fee_minor: int
    day: date
    number: int = 0

    @property
    def item(self) -> ItemKey:
        return (self.kind, self.key)

    @property
    def fact(self) -> StatementLine:
        """The line without its position: the same fact twice is one fact."""
        return replace(self, number=0)


@dataclass(frozen=True, slots=True)
class Expected:
    """What our ledger holds for one item: its merchant, currency, amount and day."""

    kind: str
    key: UUID
    merchant_id: UUID
    currency: str
    amount_minor: int
    day: date

    @property
    def item(self) -> ItemKey:
        return (self.kind, self.key)


@dataclass(frozen=True, slots=True)
class Break:
    kind: BreakKind
    item_kind: str
    key: UUID
    currency: str
    expected_minor: int | None
    actual_minor: int | None
    day: date
    line: int | None = None
    reference: str = ""
    merchant_id: UUID | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "item_kind": self.item_kind,
            "key": str(self.key),
            "currency": self.currency,
            "expected_minor": self.expected_minor,
            "actual_minor": self.actual_minor,
            "day": self.day.isoformat(),
            "line": self.line,
            "reference": self.reference,
            "merchant_id": str(self.merchant_id) if self.merchant_id else None,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Break:
        merchant = data["merchant_id"]
        return cls(
            BreakKind(data["kind"]), data["item_kind"], UUID(data["key"]), data["currency"],
            data["expected_minor"], data["actual_minor"], date.fromisoformat(data["day"]),
            data["line"], data["reference"], UUID(merchant) if merchant else None, data["detail"],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Matched:
    line: StatementLine
    item: Expected


@dataclass(frozen=True, slots=True)
class Matching:
    matched: tuple[Matched, ...]
    breaks: tuple[Break, ...]


def match(
    lines: Iterable[StatementLine],
    expected: Iterable[Expected],
    *,
    cleared: Mapping[ItemKey, StatementLine],
    days: frozenset[date],
) -> Matching:
    """Pair `lines` with `expected` items; `cleared` holds the fact that cleared each
    item an earlier file cleared. The same fact repeated counts once, and the result
    depends on no line order: lines are taken by content, never by position."""
    first_line: dict[StatementLine, int] = {}
    for line in lines:
        fact = line.fact
        first_line[fact] = min(first_line.get(fact, line.number), line.number)
    by_item: dict[ItemKey, list[StatementLine]] = defaultdict(list)
    for fact in sorted(first_line):
        by_item[fact.item].append(fact)
    items = {item.item: item for item in expected}
    matched: list[Matched] = []
    breaks: list[Break] = []
    for key in sorted(by_item):
        numbered = [replace(fact, number=first_line[fact]) for fact in by_item[key]]
        found = items.get(key)
        if key in cleared:
            why = "the item was cleared by another line of an earlier file"
            breaks.extend(_extra(ln, why) for ln in numbered if ln.fact != cleared[key])
        elif found is None:
            breaks.extend(_extra(line, "not in our ledger") for line in numbered)
        else:
            pair, more = _pair(numbered, found)
            matched.extend(pair)
            breaks.extend(more)
    breaks.extend(_missing(items.values(), set(by_item) | set(cleared), days))
    return Matching(tuple(matched), tuple(breaks))


def _pair(lines: list[StatementLine], item: Expected) -> tuple[list[Matched], list[Break]]:
    """One item's lines (sorted by content): the first that agrees matches, else the
    first differs; any other line for the item is extra."""
    agreeing = [
        line
        for line in lines
        if (line.currency, line.amount_minor) == (item.currency, item.amount_minor)
    ]
    chosen = agreeing[0] if agreeing else lines[0]
    others = [_extra(line, "another line for the same item") for line in lines if line != chosen]
    if agreeing:
        return [Matched(chosen, item)], others
    differs = Break(
        BreakKind.AMOUNT_DIFFERS, item.kind, item.key, chosen.currency, item.amount_minor,
        chosen.amount_minor, chosen.day, chosen.number, chosen.reference, item.merchant_id,
        f"our ledger: {item.amount_minor} {item.currency}",
    )  # fmt: skip
    return [], [differs, *others]


def _extra(line: StatementLine, why: str) -> Break:
    return Break(
        BreakKind.EXTRA, line.kind, line.key, line.currency, None, line.amount_minor,
        line.day, line.number, line.reference, None, why,
    )  # fmt: skip


def _missing(items: Iterable[Expected], seen: set[ItemKey], days: frozenset[date]) -> list[Break]:
    return [
        Break(
            BreakKind.MISSING,
            item.kind,
            item.key,
            item.currency,
            item.amount_minor,
            None,
            item.day,
            merchant_id=item.merchant_id,
            detail="in our ledger, in no line",
        )
        for item in sorted(items, key=lambda i: (i.kind, i.key))
        if item.day in days and item.item not in seen
    ]


# The aggregates --------------------------------------------------------------------


def import_id(source: Source, digest: str) -> UUID:
    return uuid5(_IMPORT_NAMESPACE, f"{source}:{digest}")


def clearing_id(item: ItemKey) -> UUID:
    return uuid5(_CLEARING_NAMESPACE, f"{item[0]}:{item[1]}")


class ReconciliationImport(PaysourceAggregate):
    """One imported file: what it held and every break it showed when imported."""

    class Imported(PaysourceAggregate.Created):
        source: str
        digest: str
        days: list[str]
        lines: int
        matched: int
        breaks: list[dict[str, Any]]

    def __init__(
        self,
        *,
        source: str,
        digest: str,
        days: list[str],
        lines: int,
        matched: int,
        breaks: list[dict[str, Any]],
    ) -> None:
        self.source = Source(source)
        self.digest = digest
        self.days = [date.fromisoformat(day) for day in days]
        self.lines = lines
        self.matched = matched
        self.breaks = [Break.from_dict(found) for found in breaks]

    @classmethod
    def record(
        cls, *, source: Source, digest: str, days: frozenset[date], lines: int,
        matching: Matching, meta: Meta,
    ) -> Self:  # fmt: skip
        return cls._open(
            cls.Imported,
            aggregate_id=import_id(source, digest),
            meta=meta,
            source=str(source),
            digest=digest,
            days=sorted(day.isoformat() for day in days),
            lines=lines,
            matched=len(matching.matched),
            breaks=[found.as_dict() for found in matching.breaks],
        )


class Clearing(PaysourceAggregate):
    """An item the acquirer or the bank confirmed: cleared once, by one file's line.
    The ledger posts the acquirer's clearings (`ledger.cleared`)."""

    class Cleared(PaysourceAggregate.Created):
        source: str
        kind: str
        key: UUID
        merchant_id: UUID
        currency: str
        gross_minor: int
        fee_minor: int
        import_id: UUID
        line: int
        reference: str
        day: str

    def __init__(
        self, *, kind: str, key: UUID, import_id: UUID, reference: str, currency: str,
        gross_minor: int, fee_minor: int, day: str,
    ) -> None:  # fmt: skip
        self.import_id = import_id
        # The line that cleared the item, as a fact: the same line again is no news.
        self.fact = StatementLine(
            kind, key, reference, currency, gross_minor, fee_minor, date.fromisoformat(day)
        )

    @classmethod
    def clear(cls, matched: Matched, *, source: Source, import_of: UUID, meta: Meta) -> Self:
        line, item = matched.line, matched.item
        return cls._open(
            cls.Cleared,
            aggregate_id=clearing_id(item.item),
            meta=meta,
            source=str(source),
            kind=item.kind,
            key=item.key,
            merchant_id=item.merchant_id,
            currency=item.currency,
            gross_minor=line.amount_minor,
            fee_minor=line.fee_minor,
            import_id=import_of,
            line=line.number,
            reference=line.reference,
            day=line.day.isoformat(),
        )
