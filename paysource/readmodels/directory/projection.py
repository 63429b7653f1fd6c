"""The `directory` read model's writer: merchant and customer profiles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from paysource.application.eventlog import Event
from paysource.application.topics import event_topics
from paysource.domain.customer import Customer
from paysource.domain.merchant import Merchant, stored_fees
from paysource.domain.personal import ERASED, erase_metadata
from paysource.readmodels.directory.schema import CUSTOMERS, MERCHANTS
from paysource.readmodels.rows import Rows
from paysource.readmodels.view import View


class DirectoryView(View):
    name: ClassVar[str] = "directory"
    tables = (MERCHANTS.name, CUSTOMERS.name)

    def begin_batch(self) -> None:
        self.merchants = Rows(MERCHANTS, json_columns=("fee_fixed",))
        self.customers = Rows(CUSTOMERS, json_columns=("metadata",))

    def prefetch(self, events: Sequence[Event]) -> None:
        changes = (Merchant.FeeScheduleChanged, Merchant.RateLimitChanged)
        changed = [e.originator_id for e in events if isinstance(e, changes)]
        self.merchants.load(self.cursor, changed)
        profiles = (Customer.Updated, Customer.Erased)
        self.customers.load(
            self.cursor, [e.originator_id for e in events if isinstance(e, profiles)]
        )

    def flush(self) -> None:
        self.merchants.flush(self.cursor)
        self.customers.flush(self.cursor)


class DirectoryProjection(Projection[DirectoryView]):
    name = "directory"
    topics = event_topics(Merchant, Customer)

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events that do not change profiles."""

    @process_event.register
    def _merchant(self, e: Merchant.Registered, _: Tracking) -> None:
        self.view.merchants.add(
            _first_row(
                e,
                name=e.name,
                email=e.email,
                settlement_currency=e.settlement_currency,
                fee_basis_points=e.fee_basis_points,
                fee_fixed_minor=e.fee_fixed_minor,
                fee_fixed=stored_fees(
                    e.settlement_currency,
                    e.fee_basis_points,
                    e.fee_fixed_minor,
                    e.fee_fixed_by_currency,
                ).overrides_dict(),
            )
        )

    @process_event.register
    def _fees(self, e: Merchant.FeeScheduleChanged, _: Tracking) -> None:
        currency = self.view.merchants.get(e.originator_id)["settlement_currency"].strip()
        fees = stored_fees(currency, e.fee_basis_points, e.fee_fixed_minor, e.fee_fixed_by_currency)
        self.view.merchants.change(
            e.originator_id,
            fee_basis_points=e.fee_basis_points,
            fee_fixed_minor=e.fee_fixed_minor,
            fee_fixed=fees.overrides_dict(),
            updated_at=e.timestamp,
            version=e.originator_version,
        )

    @process_event.register
    def _rate_limit(self, e: Merchant.RateLimitChanged, _: Tracking) -> None:
        # No column of its own (the limit is read from the merchant): the row's
        # version still follows the aggregate's.
        self.view.merchants.change(
            e.originator_id, updated_at=e.timestamp, version=e.originator_version
        )

    @process_event.register
    def _customer(self, e: Customer.Created, _: Tracking) -> None:
        self.view.customers.add(
            _first_row(
                e, merchant_id=e.merchant_id, name=e.name, email=e.email, metadata=e.metadata
            )
        )

    @process_event.register
    def _customer_updated(self, e: Customer.Updated, _: Tracking) -> None:
        self.view.customers.change(
            e.originator_id,
            name=e.name,
            email=e.email,
            metadata=e.metadata,
            updated_at=e.timestamp,
            version=e.originator_version,
        )

    @process_event.register
    def _customer_erased(self, e: Customer.Erased, _: Tracking) -> None:
        # Overwrites the row in place: no copy of the personal values stays live here
        # (a rebuild reads the sealed events, which decode erased by then anyway).
        row = self.view.customers.get(e.originator_id)
        self.view.customers.change(
            e.originator_id,
            name=ERASED,
            email=None if row["email"] is None else ERASED,
            metadata=erase_metadata(row["metadata"]),
            updated_at=e.timestamp,
            version=e.originator_version,
        )


def _first_row(e: Any, **columns: Any) -> dict[str, Any]:
    """A profile's row from its first event: `columns` plus id, times and version."""
    return {
        "id": e.originator_id,
        **columns,
        "created_at": e.timestamp,
        "updated_at": e.timestamp,
        "version": e.originator_version,
    }
