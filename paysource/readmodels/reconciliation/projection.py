"""The `reconciliation` read model's writer: imports, their breaks, and breaks resolved
when a later file clears their item."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from paysource.application.topics import handled_topics
from paysource.domain.reconciliation import Clearing, ReconciliationImport
from paysource.readmodels.reconciliation.schema import BREAKS, IMPORTS
from paysource.readmodels.view import View


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(columns)})"  # noqa: S608  # fixed names
        f" VALUES ({', '.join(['%s'] * len(columns))})"
    )


class ReconciliationView(View):
    name: ClassVar[str] = "reconciliation"
    tables = (IMPORTS.name, BREAKS.name)

    def imported(self, e: ReconciliationImport.Imported) -> None:
        day = date.fromisoformat(e.days[0])
        row = (e.originator_id, e.source, e.digest, day, e.lines, e.matched, len(e.breaks))
        self.execute(_insert(IMPORTS.name, IMPORTS.columns), (*row, e.timestamp))
        self.cursor.executemany(
            _insert(BREAKS.name, BREAKS.columns),
            [_break_row(e, number, found) for number, found in enumerate(e.breaks, start=1)],
        )

    def resolve(self, e: Clearing.Cleared) -> None:
        # Only a later file resolves: a break its own file raised for the item it clears
        # (a second line for it) is news about that file, and stays open.
        self.execute(
            "UPDATE reconciliation_breaks SET status = 'resolved', resolved_at = %s,"
            " resolved_by = %s WHERE item_kind = %s AND item_key = %s AND status = 'open'"
            " AND import_id <> %s",
            (e.timestamp, e.import_id, e.kind, e.key, e.import_id),
        )


def _break_row(
    e: ReconciliationImport.Imported, number: int, found: dict[str, Any]
) -> tuple[Any, ...]:
    return (
        e.originator_id, number, e.source, found["kind"], found["item_kind"], found["key"],
        found["merchant_id"], found["line"], found["reference"], found["currency"],
        found["expected_minor"], found["actual_minor"], date.fromisoformat(found["day"]),
        found["detail"], "open", e.timestamp, None, None,
    )  # fmt: skip


class ReconciliationProjection(Projection[ReconciliationView]):
    name = "reconciliation"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Nothing else concerns reconciliation."""

    @process_event.register
    def _imported(self, e: ReconciliationImport.Imported, _: Tracking) -> None:
        self.view.imported(e)

    @process_event.register
    def _cleared(self, e: Clearing.Cleared, _: Tracking) -> None:
        self.view.resolve(e)

    # Last: follows exactly the events handled above.
    topics = handled_topics(process_event)
