"""Every read model of a cell, and the projection that keeps each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.projection import Projection

from paysource.readmodels.directory.projection import DirectoryProjection, DirectoryView
from paysource.readmodels.finance.projection import FinanceProjection, FinanceView
from paysource.readmodels.ledger.projection import LedgerProjection, LedgerView
from paysource.readmodels.payments.projection import PaymentsProjection, PaymentsView
from paysource.readmodels.settlements.projection import SettlementsProjection, SettlementsView
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
}


def build_projection(
    name: str, datastore: PostgresDatastore, *, schema: str = LIVE_SCHEMA
) -> Projection[Any]:
    view_class, projection_class = PROJECTIONS[name]
    return projection_class(view_class(datastore, schema=schema))


@dataclass
class ReadModels:
    """The live read models of one cell, sharing one connection pool."""

    datastore: PostgresDatastore

    def __post_init__(self) -> None:
        self.payments = PaymentsView(self.datastore)
        self.directory = DirectoryView(self.datastore)
        self.ledger = LedgerView(self.datastore)
        self.transactions = TransactionsView(self.datastore)
        self.finance = FinanceView(self.datastore)
        self.settlements = SettlementsView(self.datastore)

    def projections(self) -> list[Projection[Any]]:
        return [
            PaymentsProjection(self.payments),
            DirectoryProjection(self.directory),
            LedgerProjection(self.ledger),
            TransactionsProjection(self.transactions),
            FinanceProjection(self.finance),
            SettlementsProjection(self.settlements),
        ]

    def close(self) -> None:
        self.datastore.close()
