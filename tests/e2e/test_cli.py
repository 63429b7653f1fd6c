"""The `paysource` command as an operator runs it: serve, Ctrl-C, migrate, merchants create."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.localservices import free_port, port_accepts
from paysource.projections.catalog import PROJECTIONS
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
    try:
        deadline = time.monotonic() + 90
        while not _ready(port):
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "paysource serve did not become ready"
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


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
def test_serve_takes_payments_with_its_embedded_worker_and_stops_on_ctrl_c(
    settings: Settings,
) -> None:
    port = free_port()
    with serving(env_for(settings), port) as process:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        merchant = client.post(
            "/v1/merchants", json={"name": "Acme"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        ).json()
        payment = client.post(
            "/v1/payments",
            json={"amount": 1200, "currency": "EUR", "source": "tok_visa"},
            headers={
                "Authorization": f"Bearer {merchant['api_key']}",
                "Idempotency-Key": "cli-1",
                "Prefer": "wait=10",
            },
        )
        assert payment.status_code == 200, payment.text
        assert payment.json()["status"] == "succeeded"

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    assert not port_accepts(port)


@pytest.mark.slow
def test_serve_without_configured_servers_starts_and_stops_its_own(tmp_path: Path) -> None:
    port = free_port()
    env = env_for(None, PAYSOURCE_LOCAL_DIR=str(tmp_path / "local"))
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

    from paysource.api.app import create_app  # noqa: PLC0415
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

    from paysource.api.app import create_app  # noqa: PLC0415
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
