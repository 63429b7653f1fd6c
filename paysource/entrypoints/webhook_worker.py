"""`python -m paysource.entrypoints.webhook_worker`: the webhook outbox and delivery
lanes of every cell in one process, until SIGINT or SIGTERM.

It reads the same `PAYSOURCE_*` settings as `paysource worker` (the database URL
is required) plus `PAYSOURCE_WEBHOOK_*`. Any number may run: the outbox commits by
compare-and-set and deliveries are claimed with SKIP LOCKED and a lease, so a
second copy, or one killed with -9, neither doubles nor loses a webhook.
"""

from __future__ import annotations

import logging
import sys
import threading

from paysource import logs
from paysource.adapters.postgres.datastore import NotificationListener
from paysource.bootstrap import Container, build_container, process_parts
from paysource.config import Settings
from paysource.entrypoints.supervise import stop_on_signals
from paysource.entrypoints.telemetry import start_tracing
from paysource.processes.catalog import webhook_jobs

log = logging.getLogger(__name__)


def run(container: Container, stop: threading.Event) -> None:
    """Run the webhook jobs of the catalog (outbox and delivery lanes) of every cell until
    `stop` is set: unleased, since both are safe to run in several processes at once."""
    threads = []
    for cell in container.router.all():
        for job in webhook_jobs(container.settings, process_parts(container, cell)):
            name = f"{cell.name}/{job.name}"
            thread = threading.Thread(target=job.run, args=(stop,), name=name, daemon=True)
            thread.start()
            threads.append(thread)
    stop.wait()
    for thread in threads:
        thread.join(timeout=30)


def main() -> int:
    settings = Settings()
    logs.configure_for(settings)
    start_tracing(settings)
    if not settings.database_url:
        print("webhook worker: set PAYSOURCE_DATABASE_URL", file=sys.stderr)
        return 2
    container = build_container(settings)
    stop = stop_on_signals()
    listeners = [
        NotificationListener(c.database_url, container.wakeup) for c in container.router.all()
    ]
    for listener in listeners:
        listener.start()
    try:
        run(container, stop)
    finally:
        for listener in listeners:
            listener.stop()
        container.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
