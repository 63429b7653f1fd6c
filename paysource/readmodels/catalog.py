"""Every read model of a cell: the projection that writes it, the queries that read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.projection import Projection

from paysource.application.caught_up import CaughtUp
from paysource.application.eventlog import EventStore
from paysource.readmodels import sql
from paysource.readmodels.directory import schema as directory_schema
from paysource.readmodels.directory.projection import DirectoryProjection, DirectoryView
from paysource.readmodels.directory.queries import DirectoryQueries
from paysource.readmodels.disputes import schema as disputes_schema
from paysource.readmodels.disputes.projection import DisputesProjection, DisputesView
from paysource.readmodels.disputes.queries import DisputesQueries
from paysource.readmodels.events import schema as events_schema
from paysource.readmodels.events.projection import EventsProjection, EventsView
from paysource.readmodels.events.queries import EventsQueries
from paysource.readmodels.finance import schema as finance_schema
from paysource.readmodels.finance.projection import FinanceProjection, FinanceView
from paysource.readmodels.finance.queries import FinanceQueries
from paysource.readmodels.ledger import schema as ledger_schema
from paysource.readmodels.ledger.projection import LedgerProjection, LedgerView
from paysource.readmodels.ledger.queries import LedgerQueries
from paysource.readmodels.payments import schema as payments_schema
from paysource.readmodels.payments.projection import PaymentsProjection, PaymentsView
from paysource.readmodels.payments.queries import PaymentsQueries
from paysource.readmodels.reconciliation import schema as reconciliation_schema
from paysource.readmodels.reconciliation.projection import (
    ReconciliationProjection,
    ReconciliationView,
)
from paysource.readmodels.reconciliation.queries import ReconciliationQueries
from paysource.readmodels.settlements import schema as settlements_schema
from paysource.readmodels.settlements.projection import SettlementsProjection, SettlementsView
from paysource.readmodels.settlements.queries import SettlementsQueries
from paysource.readmodels.sql import Row, Statement, Table
from paysource.readmodels.transactions import schema as transactions_schema
from paysource.readmodels.transactions.projection import TransactionsProjection, TransactionsView
from paysource.readmodels.view import LIVE_SCHEMA, View

# name → (view class, projection class); the name is also the tracking key.
PROJECTIONS: dict[str, tuple[type[View], type[Projection[Any]]]] = {
    "payments": (PaymentsView, PaymentsProjection),
    "directory": (DirectoryView, DirectoryProjection),
    "ledger": (LedgerView, LedgerProjection),
    "transactions": (TransactionsView, TransactionsProjection),
    "finance": (FinanceView, FinanceProjection),
    "settlements": (SettlementsView, SettlementsProjection),
    "events": (EventsView, EventsProjection),
    "reconciliation": (ReconciliationView, ReconciliationProjection),
    "disputes": (DisputesView, DisputesProjection),
}

# name → the tables (and views) of that read model, with their columns.
TABLES: dict[str, tuple[Table, ...]] = {
    "payments": payments_schema.TABLES,
    "directory": directory_schema.TABLES,
    "ledger": ledger_schema.TABLES,
    "transactions": transactions_schema.TABLES,
    "finance": finance_schema.TABLES,
    "settlements": settlements_schema.TABLES,
    "events": events_schema.TABLES,
    "reconciliation": reconciliation_schema.TABLES,
    "disputes": disputes_schema.TABLES,
}


def caught_up(
    store: EventStore, datastore: PostgresDatastore, name: str, *, timeout_s: float
) -> CaughtUp:
    """A wait until the read model `name` has applied the events committed before it."""
    view_class, projection_class = PROJECTIONS[name]
    position = view_class(datastore).position
    return CaughtUp(store, name, projection_class.topics, position, timeout_s=timeout_s)


def build_projection(
    name: str, datastore: PostgresDatastore, *, schema: str = LIVE_SCHEMA
) -> Projection[Any]:
    view_class, projection_class = PROJECTIONS[name]
    return projection_class(view_class(datastore, schema=schema))


@dataclass
class ReadModels:
    """The live read models of one cell, sharing one connection pool: each attribute
    is a read model's queries; `projections()` are their writers."""

    datastore: PostgresDatastore
    # Where lists and reports read from (a hot standby when fresh); default: `datastore`.
    lists: sql.Lists | None = None

    def __post_init__(self) -> None:
        lists = self.lists
        self.payments = PaymentsQueries(self.datastore, lists)
        self.directory = DirectoryQueries(self.datastore, lists)
        self.ledger = LedgerQueries(self.datastore)
        self.finance = FinanceQueries(self.datastore, lists)
        self.settlements = SettlementsQueries(self.datastore, lists)
        self.events = EventsQueries(self.datastore)
        self.reconciliation = ReconciliationQueries(self.datastore)
        self.disputes = DisputesQueries(self.datastore, lists)

    def run(self, statement: Statement) -> list[Row]:
        """Any read model's statement, on this cell's synchronous pool."""
        return sql.run(self.datastore, statement)

    def projections(self) -> list[Projection[Any]]:
        return [build_projection(name, self.datastore) for name in PROJECTIONS]

    def close(self) -> None:
        self.datastore.close()
