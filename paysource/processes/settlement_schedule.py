"""The settlement schedule: close every due settlement at each daily cut-off."""

from __future__ import annotations

import logging

from paysource.application.errors import ReadModelBehind
from paysource.application.ports import Clock
from paysource.application.settlements import (
    NothingToSettle,
    RateUnavailable,
    SettlementService,
    WaitingItems,
)
from paysource.domain.meta import Meta
from paysource.domain.schedule import DailySchedule
from paysource.domain.settlement import Settlement

log = logging.getLogger(__name__)


class SettlementScheduler:
    """Closes every due settlement at the schedule's latest cut-off; safe to run
    often and in several places, since settlements are idempotent per cut-off."""

    def __init__(
        self,
        service: SettlementService,
        items: WaitingItems,
        clock: Clock,
        schedule: DailySchedule,
    ) -> None:
        self._service = service
        self._items = items
        self._clock = clock
        self._schedule = schedule

    def tick(self) -> list[Settlement]:
        cutoff = self._schedule.last_cutoff(self._clock.now())
        closed = []
        # Once a tick, before asking who is due: the view then has every capture made
        # before the cut-off (it has passed), and a close need not wait for the one
        # before it (each commits a settlement the view follows).
        try:
            self._service.catch_up()
        except ReadModelBehind as behind:  # a backlog: no traceback every tick, just why
            log.warning("settlements wait for the next tick: %s", behind.detail)
            return []
        for merchant_id, currency in self._items.due(until=cutoff):
            meta = Meta.system("settlement-schedule", at=self._clock.now())
            try:
                outcome = self._service.close(
                    merchant_id=merchant_id,
                    currency=currency,
                    until=cutoff,
                    meta=meta,
                    caught_up=True,
                )
            except NothingToSettle:
                continue
            except RateUnavailable as waiting:
                # Recorded on the settlement; asked again next tick, until a rate is loaded.
                log.warning("settlement waits: %s", waiting.detail)
                continue
            if not outcome.replayed:
                closed.append(outcome.value)
        if closed:
            log.info("closed %d settlements at cut-off %s", len(closed), cutoff.isoformat())
        return closed
