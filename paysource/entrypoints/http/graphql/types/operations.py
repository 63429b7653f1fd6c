"""`viewer.operations` (admin keys only): what an operator watches — projections and
worker jobs with their lag, payments whose recorded decisions the acquirer refused, and
the webhook backlog.

Read through the same interfaces as `paysource projections status`, `paysource jobs`
and `/metrics` (`readmodels.maintenance.status`, `worker.job_statuses`, the payments
read model's `count_relay_failed`, the delivery queue's `backlog`). They are blocking
reads, so each runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import strawberry

from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.domain.api_key import Role
from paysource.domain.schedule import DailySchedule
from paysource.entrypoints.http.graphql import fields
from paysource.entrypoints.http.graphql.policy import Access
from paysource.entrypoints.worker import job_statuses
from paysource.readmodels.maintenance import status


@strawberry.type(description="A read model's projection: where it is in the log, how far behind.")
class ProjectionStatus:
    cell: str
    name: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float


@strawberry.type(description="A worker job, as `paysource jobs` shows it.")
class JobStatus:
    cell: str
    name: str
    held_by: str = strawberry.field(description='"host:pid", or "-" when no worker holds it.')
    lag_events: int | None = strawberry.field(description="Log events after its position.")


@strawberry.type(description="Webhook deliveries waiting in one cell.")
class WebhookBacklog:
    cell: str
    pending: int
    oldest_seconds: float


@strawberry.type(description="What operators watch. Admin keys only (null for others).")
class Operations:
    container: strawberry.Private[Container]

    @fields.field("Every projection of every cell.")
    async def projections(self) -> list[ProjectionStatus]:
        return await asyncio.to_thread(self._projections)

    @fields.field("Every worker job and who holds it.")
    async def jobs(self) -> list[JobStatus]:
        found = await asyncio.to_thread(job_statuses, self.container)
        return [
            JobStatus(cell=j.cell, name=j.job, held_by=j.held_by, lag_events=j.lag_events)
            for j in found
        ]

    @fields.field(
        "Payments with a recorded decision the acquirer refused (list them with "
        "`viewer.payments(filter: {relayFailed: true})`)."
    )
    async def relay_failures(self) -> int:
        cells = self.container.router.all()
        counts = [await asyncio.to_thread(c.read.payments.count_relay_failed) for c in cells]
        return sum(counts)

    @fields.field("Deliveries not yet made, per cell.")
    async def webhook_backlog(self) -> list[WebhookBacklog]:
        return await asyncio.to_thread(self._backlog)

    def _projections(self) -> list[ProjectionStatus]:
        return [
            ProjectionStatus(
                cell=cell.name,
                name=s.name,
                position=s.position,
                head=s.head,
                lag_events=s.lag_events,
                lag_seconds=s.lag_seconds,
            )
            for cell in self.container.router.all()
            for s in status(cell.store, cell.read.datastore)
        ]

    def _backlog(self) -> list[WebhookBacklog]:
        webhooks = self.container.webhooks
        if webhooks is None:
            return []
        found = []
        for cell in self.container.router.all():
            pending, oldest_s = webhooks.for_cell(cell).queue.backlog()
            found.append(WebhookBacklog(cell=cell.name, pending=pending, oldest_seconds=oldest_s))
        return found


def operations_for(access: Access, container: Container) -> Operations | None:
    """Only an admin key: jobs and lags say nothing of one merchant's business, but
    they are the operator's, and finance or auditor keys have no use for them."""
    if access.customer_id is not None or access.principal.role != Role.ADMIN:
        return None
    return Operations(container=container)


def next_cutoff(settings: Settings, now: datetime) -> datetime | None:
    schedule = DailySchedule.parse(settings.settlement_schedule)
    return None if schedule is None else schedule.last_cutoff(now) + timedelta(days=1)
