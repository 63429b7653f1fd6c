"""What the CLI draws: tables, and progress bars that never mix with log lines.

On a terminal the bar redraws in place and log records are printed above it (rich moves
them there). Anywhere else (a pipe, a CI log, a file) there is no bar and no carriage
return: a plain line at most every few seconds, which reads well in a log.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

Show = Callable[[int, int, float], None]
PLAIN_EVERY_S = 5.0


def stdout() -> Console:
    # soft_wrap: a row never breaks mid-value when the output is piped (80 columns then).
    return Console(soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, soft_wrap=True)


def table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    """A borderless table: aligned on a terminal, and one row per line for grep and awk."""
    drawn = Table(box=None, pad_edge=False, show_edge=False)
    for index, name in enumerate(columns):
        drawn.add_column(name, justify="left" if index < 2 else "right", no_wrap=True)
    for row in rows:
        drawn.add_row(*(str(value) for value in row))
    return drawn


@contextlib.contextmanager
def progress(label: str, console: Console | None = None) -> Iterator[Show]:
    """A `show(position, head, events_per_second)` for the length of the block."""
    console = console or stderr()
    if not console.is_terminal:
        yield _plain(label)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:,.0f} events/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar, _logs_above_the_bar():
        task = bar.add_task(label, total=None, rate=0.0)

        def show(position: int, head: int, rate: float) -> None:
            bar.update(task, completed=position, total=max(head, position), rate=rate)

        yield show


@contextlib.contextmanager
def _logs_above_the_bar() -> Iterator[None]:
    """Send log handlers to rich's stand-in for stderr while the bar is drawn.

    The handlers captured the real stderr when logging was set up, so their lines would
    land in the middle of the bar; rich's stand-in prints them above it instead.
    """
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler)
        and handler.stream in (sys.__stderr__, getattr(sys.stderr, "rich_proxied_file", None))
    ]
    previous = [handler.stream for handler in handlers]
    for handler in handlers:
        handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


def _plain(label: str) -> Show:
    last = [0.0]

    def show(position: int, head: int, rate: float) -> None:
        now = time.monotonic()
        if now - last[0] < PLAIN_EVERY_S and position < head:
            return
        last[0] = now
        share = position / head if head else 1.0
        eta = f", ETA {(head - position) / rate:.0f}s" if rate > 0 and position < head else ""
        print(
            f"{label}: {position}/{head} events ({share:.0%}), {rate:,.0f} events/s{eta}",
            file=sys.stderr,
            flush=True,
        )

    return show
