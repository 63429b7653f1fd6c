"""The `paysource` command as an operator runs it: serve, Ctrl-C, migrate, merchants create."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from devtools.localservices import free_port, port_accepts, remove_postgres_data
from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.readmodels.catalog import PROJECTIONS
from tests.conftest import ADMIN_KEY, TEST_ENVIRONMENT


def env_for(settings: Settings | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSOURCE_")}
    env.update(TEST_ENVIRONMENT)
    if settings is not None:
        assert settings.database_url
        assert settings.redis_url
        env["PAYSOURCE_DATABASE_URL"] = settings.database_url
        env["PAYSOURCE_REDIS_URL"] = settings.redis_url
    env.update(extra)
    return env


def paysource(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paysource", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def serving(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "paysource", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Read the output as it comes: a full pipe would block the server (and its worker
    # process, which shares the pipe) in the middle of a log line.
    output: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not _ready(port):
            assert process.poll() is None, "".join(output)
            assert time.monotonic() < deadline, "paysource serve did not become ready"
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def eventually(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def pay_and_wait(base: str) -> dict[str, Any]:
    client = httpx.Client(base_url=base, timeout=30)
    merchant = client.post(
        "/v1/merchants", json={"name": "Acme"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ).json()
    payment = client.post(
        "/v1/payments",
        json={"amount": 1200, "currency": "EUR", "source": "tok_visa"},
        headers={
            "Authorization": f"Bearer {merchant['api_key']}",
            "Idempotency-Key": str(uuid.uuid4()),
            "Prefer": "wait=15",
        },
    )
    assert payment.status_code == 200, payment.text
    body: dict[str, Any] = payment.json()
    return body


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_merchants_create_prints_an_id_and_a_working_key(
    settings: Settings, container: Container
) -> None:
    result = paysource("merchants", "create", "--name", "Acme", env=env_for(settings))

    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.split())
    assert lines["merchant_id"].startswith("mer_")
    assert lines["api_key"].startswith("psk_")
    principal = container.authenticator.authenticate(lines["api_key"])
    assert principal.merchant_id is not None
    assert f"mer_{principal.merchant_id.hex}" == lines["merchant_id"]


def test_migrate_is_idempotent(settings: Settings) -> None:
    result = paysource("migrate", env=env_for(settings))

    assert result.returncode == 0, result.stderr
    assert "0 applied" in result.stdout


def test_invalid_configuration_fails_fast_with_a_clear_message() -> None:
    env = env_for(None, PAYSOURCE_ADMIN_KEY="psk_admin_development_only")

    result = paysource("migrate", env=env)

    assert result.returncode == 2
    assert "development default" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["process", "thread"])
def test_serve_takes_payments_with_its_worker_and_stops_everything_on_ctrl_c(
    settings: Settings, mode: str
) -> None:
    port = free_port()
    with serving(env_for(settings, PAYSOURCE_SERVE_WORKER=mode), port) as process:
        workers = children(process.pid)
        assert len(workers) == (1 if mode == "process" else 0)

        assert pay_and_wait(f"http://127.0.0.1:{port}")["status"] == "succeeded"

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    assert not port_accepts(port)
    assert not any(alive(pid) for pid in workers)


@pytest.mark.slow
def test_serve_with_two_worker_processes_shares_the_jobs_and_stops_both(
    settings: Settings,
) -> None:
    port = free_port()
    env = env_for(settings, PAYSOURCE_SERVE_WORKER_PROCESSES="2")
    with serving(env, port) as process:
        workers = children(process.pid)
        assert len(workers) == 2

        def holders() -> set[int]:
            listed = paysource("jobs", env=env).stdout
            return {int(pid) for pid in re.findall(r":(\d+)\s", listed)}

        eventually(lambda: holders() == set(workers), timeout_s=60)  # each holds jobs
        assert pay_and_wait(f"http://127.0.0.1:{port}")["status"] == "succeeded"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    assert not any(alive(pid) for pid in workers)


@pytest.mark.slow
def test_a_killed_worker_process_is_restarted(settings: Settings) -> None:
    port = free_port()
    with serving(env_for(settings), port) as process:
        [first] = children(process.pid)
        os.kill(first, signal.SIGKILL)
        eventually(
            lambda: [pid for pid in children(process.pid) if alive(pid)] not in ([], [first])
        )

        assert pay_and_wait(f"http://127.0.0.1:{port}")["status"] == "succeeded"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


@pytest.mark.slow
def test_the_worker_process_stops_when_serve_is_killed(settings: Settings) -> None:
    port = free_port()
    with serving(env_for(settings), port) as process:
        [worker] = children(process.pid)
        process.kill()
        process.wait()

        eventually(lambda: not alive(worker))


@pytest.mark.slow
def test_serve_without_configured_servers_starts_and_stops_its_own(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    port = free_port()
    env = env_for(None, PAYSOURCE_LOCAL_DIR=str(tmp_path / "local"))
    request.addfinalizer(lambda: remove_postgres_data(tmp_path / "local"))
    with serving(env, port) as process:
        services = json.loads((tmp_path / "local" / "services.json").read_text())
        ports = [int(p) for p in services["ports"].split(",")]
        assert all(port_accepts(p) for p in ports)
        readiness = httpx.get(f"http://127.0.0.1:{port}/readyz").json()
        assert readiness["checks"]["redis"]["status"] == "ok"

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    assert not any(port_accepts(p) for p in [port, *ports])
    assert not (tmp_path / "local" / "services.json").exists()


def test_projection_commands_report_status_rebuild_and_verify(
    settings: Settings, container: Container
) -> None:
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from paysource.entrypoints.http.app import create_app  # noqa: PLC0415
    from tests.helpers import admin, drain  # noqa: PLC0415

    with TestClient(create_app(container)) as client:
        merchant = admin(client).merchant()
        for amount in (1000, 2000, 3000):
            merchant.pay(amount)
        drain(container)
    env = env_for(settings)

    status = paysource("projections", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert {line.split()[1] for line in status.stdout.splitlines()[1:]} == set(PROJECTIONS)

    rebuilt = paysource("projections", "rebuild", "ledger", "--batch-size", "2", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "events/s" in rebuilt.stdout

    clean = paysource("projections", "verify", "ledger", env=env)
    assert (clean.returncode, "identical to a full replay" in clean.stdout) == (0, True)

    with psycopg.connect(settings.database_url or "") as conn:
        conn.execute(
            "DELETE FROM journal_entries WHERE kind = 'capture' AND ctid IN"
            " (SELECT ctid FROM journal_entries WHERE kind = 'capture' LIMIT 1)"
        )
    tampered = paysource("projections", "verify", "ledger", env=env)
    assert tampered.returncode == 1
    assert "journal_entries: 0 rows only in the live view, 1 only in a replay" in tampered.stdout


def test_report_commands_print_what_the_api_serves(
    settings: Settings, container: Container
) -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from fastapi.testclient import TestClient  # noqa: PLC0415

    from paysource.entrypoints.http.app import create_app  # noqa: PLC0415
    from tests.helpers import admin, drain  # noqa: PLC0415

    today = datetime.now(UTC).date().isoformat()
    with TestClient(create_app(container)) as client:
        merchant = admin(client).merchant()
        merchant.pay(4200)
        drain(container)
        merchant_id = merchant.get("/v1/balance").json()["merchant"]
        api_csv = client.get(
            "/v1/reports/statement",
            params={"from": today, "to": today},
            headers={"Authorization": f"Bearer {merchant.key}", "Accept": "text/csv"},
        ).text
        api_volume = merchant.get("/v1/reports/daily-volume", **{"from": today, "to": today})

    statement = paysource(
        "report",
        "statement",
        "--merchant",
        merchant_id,
        "--from",
        today,
        "--to",
        today,
        "--format",
        "csv",
        env=env_for(settings),
    )
    volume = paysource(
        "report", "daily-volume", "--from", today, "--to", today, env=env_for(settings)
    )

    assert statement.returncode == 0, statement.stderr
    assert statement.stdout == api_csv
    assert json.loads(volume.stdout)["data"] == api_volume.json()["data"]


UNKNOWN_MERCHANT = f"mer_{'1' * 32}"
ONE_DAY = ("--from", "2026-11-24", "--to", "2026-11-24")


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["daily-volume", "--from", "2026-11-25", "--to", "2026-11-24"], 1, "`to` is before"),
        (["daily-volume", "--from", "2020-01-01", "--to", "2026-11-24"], 1, "at most 366 days"),
        (["daily-volume", "--from", "20261124", "--to", "2026-11-24"], 2, "YYYY-MM-DD"),
        (
            ["daily-volume", "--from", "2026-11-24", "--to", "2026-11-24", "--currency", "XX1"],
            2,
            "three-letter",
        ),
        (["daily-volume", *ONE_DAY, "--currency", "ZZZ"], 2, "ISO 4217"),
        (
            ["statement", "--merchant", UNKNOWN_MERCHANT, *ONE_DAY],
            1,
            "no such merchant",
        ),
    ],
)
def test_report_commands_refuse_bad_input_with_a_message_not_a_traceback(
    settings: Settings, args: list[str], code: int, says: str
) -> None:
    result = paysource("report", *args, env=env_for(settings))

    assert result.returncode == code, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_database_without_paysources_tables_is_a_message_not_a_traceback(
    settings: Settings, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS paysource_unmigrated")
        conn.execute("CREATE DATABASE paysource_unmigrated")
    try:
        url = urlsplit(database_url)._replace(path="/paysource_unmigrated").geturl()
        done = paysource("jobs", env=env_for(settings, PAYSOURCE_DATABASE_URL=url))
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS paysource_unmigrated WITH (FORCE)")

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "paysource migrate" in done.stderr


def test_a_confirmation_no_one_can_give_says_so_and_does_nothing(settings: Settings) -> None:
    # A script (no terminal) running a command that asks to confirm: a message, not a
    # silent exit with Ctrl-C's status.
    done = subprocess.run(
        [sys.executable, "-m", "paysource", "customers", "erase", "cus_" + "0" * 32],
        env=env_for(settings),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    assert "--yes" in done.stderr
