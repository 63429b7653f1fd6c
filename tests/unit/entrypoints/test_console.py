"""Progress bars: drawn on a terminal with log lines kept whole above them, plain lines
(no carriage return) anywhere else."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
from collections.abc import Iterator

import pytest
from rich.console import Console

from paysource.entrypoints import console

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@contextlib.contextmanager
def log_to_stderr() -> Iterator[logging.Logger]:
    """A handler on the stderr of this moment, as the CLI's own is made once stderr is set
    (pytest swaps stderr between a fixture's set-up and the test)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield logging.getLogger("paysource.test")
    finally:
        root.removeHandler(handler)


def test_on_a_terminal_a_log_line_during_progress_is_printed_whole_above_the_bar(
    capsys: pytest.CaptureFixture[str],
) -> None:
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)

    with log_to_stderr() as log, console.progress("main ledger", terminal) as show:
        show(10, 100, 500.0)
        log.warning("a log line that must not be cut by the bar")
        show(100, 100, 500.0)

    lines = re.split(r"[\r\n]", ANSI.sub("", screen.getvalue()))
    assert "WARNING a log line that must not be cut by the bar" in lines
    assert "100/100" in screen.getvalue()
    assert "a log line" not in capsys.readouterr().err


def test_off_a_terminal_progress_is_plain_lines_without_carriage_returns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    piped = Console(file=io.StringIO(), width=100)

    with console.progress("main ledger", piped) as show:
        show(10, 100, 500.0)
        show(100, 100, 500.0)

    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.splitlines() == [
        "main ledger: 10/100 events (10%), 500 events/s, ETA 0s",
        "main ledger: 100/100 events (100%), 500 events/s",
    ]


def test_a_table_is_one_row_per_line() -> None:
    out = io.StringIO()
    Console(file=out, width=100).print(console.table(("cell", "n"), [("main", 1), ("b", 22)]))

    assert [line.split() for line in out.getvalue().splitlines()] == [
        ["cell", "n"],
        ["main", "1"],
        ["b", "22"],
    ]
