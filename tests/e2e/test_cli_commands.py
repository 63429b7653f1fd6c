"""The CLI as a tool: described, versioned, every read model at once, clear about bad input,
and quiet about progress when nobody watches a terminal."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import psycopg
from fastapi.testclient import TestClient

from paysource import __version__
from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.entrypoints.cli import cli
from paysource.entrypoints.http.app import create_app
from paysource.readmodels.catalog import PROJECTIONS
from paysource.readmodels.maintenance import verify
from tests.e2e.test_cli import env_for, paysource
from tests.helpers import admin, drain
from tests.integration.test_projections import trade
from tests.integration.test_rebuild_all import SCHEMAS


def commands(group: click.Group, prefix: str = "paysource") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += commands(command, path)
    return found


def test_every_command_has_a_description_and_every_leaf_an_example() -> None:
    every = commands(cli)

    assert {path for path, _ in every} >= {
        "paysource serve",
        "paysource worker",
        "paysource migrate",
        "paysource merchants create",
        "paysource projections verify",
        "paysource report statement",
        "paysource settle",
    }
    assert [path for path, command in every if not command.short_help and not command.help] == []
    leaves = [(path, command) for path, command in every if not isinstance(command, click.Group)]
    assert [path for path, command in leaves if "Example" not in (command.help or "")] == []


def test_version_prints_the_package_version() -> None:
    result = paysource("--version", env=env_for(None))

    assert (result.returncode, result.stdout.strip()) == (0, f"paysource, version {__version__}")


def test_a_bad_cut_off_says_what_a_date_looks_like() -> None:
    result = paysource(
        "settle", "--merchant", "mer_x", "--currency", "USD", "--until", "garbage",
        env=env_for(None),
    )  # fmt: skip

    assert result.returncode == 2
    assert "Invalid value for '--until': a moment is written in RFC 3339" in result.stderr
    assert "_aware" not in result.stderr


def test_verify_and_rebuild_want_a_name_or_all_before_starting_any_server(
    tmp_path: Path,
) -> None:
    env = env_for(None, PAYSOURCE_LOCAL_DIR=str(tmp_path / "local"))
    for action in ("verify", "rebuild"):
        result = paysource("projections", action, env=env)

        assert result.returncode == 2
        assert "name one read model, or give --all" in result.stderr
    assert not (tmp_path / "local").exists()


def test_all_read_models_rebuild_and_verify_without_carriage_returns_off_a_terminal(
    settings: Settings, container: Container
) -> None:
    with TestClient(create_app(container)) as client:
        merchant = admin(client).merchant()
        merchant.pay(1500)
        drain(container)
    env = env_for(settings)

    rebuilt = paysource(
        "projections", "rebuild", "--all", "--batch-size", "2", "--processes", "2", env=env
    )
    verified = paysource("projections", "verify", "--all", env=env)

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert {line.split()[1].rstrip(":") for line in rebuilt.stdout.splitlines()} == set(PROJECTIONS)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.count("identical to a full replay") == len(PROJECTIONS)
    assert "\r" not in rebuilt.stderr + verified.stderr


def test_ctrl_c_stops_a_rebuild_on_several_processes_and_leaves_the_live_models_whole(
    settings: Settings, container: Container
) -> None:
    with TestClient(create_app(container)) as client:
        merchant = admin(client).merchant()
        trade(merchant, container)
        # A longer log (about 1,100 events): replayed one event per batch it lasts
        # several seconds, so both processes are still at work when Ctrl-C comes. With
        # trade's 111 events (about a second) or 351 (1.5 s), one process could be done
        # before the other began, and the test never pressed Ctrl-C.
        for n in range(250):
            merchant.pay(2000 + n)
        drain(container)
    assert settings.database_url
    command = ["projections", "rebuild", "--all", "--batch-size", "1", "--processes", "2"]
    rebuilding = subprocess.Popen(
        [*AS_FROM_A_TERMINAL, *command],
        env=env_for(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job
    )
    try:
        # Wait until both processes replay (each made its scratch schemas), then press Ctrl-C.
        deadline = time.monotonic() + 60
        while len(scratch_schemas(settings.database_url)) < 2 * len(PROJECTIONS):
            assert rebuilding.poll() is None, rebuilding.communicate()
            assert time.monotonic() < deadline, "the rebuild never started"
            time.sleep(0.05)
        os.killpg(rebuilding.pid, signal.SIGINT)
        _, stderr = rebuilding.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(rebuilding.pid, signal.SIGKILL)

    assert rebuilding.returncode == 130, stderr
    assert "Traceback" not in stderr, "the children leave quietly"
    assert group_gone(rebuilding.pid, within_s=10), "no child outlives it"
    # stderr: the children's logs, to tell a slow cleanup from one cut short (a rare
    # failure left one child's eight schemas, and nothing said why).
    assert scratch_schemas(settings.database_url) == [], f"the children dropped them:\n{stderr}"
    cell = container.router.all()[0]
    for name in PROJECTIONS:
        assert verify(name, cell.store, cell.read.datastore) == [], name


# `python -m paysource` with Python's own Ctrl-C handler, as a terminal starts it. A
# process started with SIGINT ignored (a runner in the background of a shell without job
# control: `./dev test &`) passes that on, and Python then installs no handler: Ctrl-C
# would do nothing, and this test failed in such runs with the rebuild finished (exit 0).
AS_FROM_A_TERMINAL = [
    sys.executable,
    "-c",
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
    " sys.argv[0] = 'paysource'; runpy.run_module('paysource', run_name='__main__')",
]


def group_gone(group: int, *, within_s: float) -> bool:
    """No process of `group` is left (orphans are reaped by init a moment after their
    parent, and multiprocessing's resource tracker leaves once its pipe closes)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def scratch_schemas(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(SCHEMAS).fetchall()
    return [row[0] for row in rows]
