"""What a command says at start: which servers it uses, what is wrong with the
configuration, and why it cannot start, each in one line without a secret."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from devtools.localservices import LocalPostgres, LocalRedis, free_port, remove_postgres_data
from paysource.config import MIGRATIONS_DIR, Settings
from tests.e2e.test_cli import env_for, paysource, serving

SECRET = "hunter2-not-for-screens"


def one_line(stderr: str) -> str:
    [line] = [line for line in stderr.splitlines() if line.startswith("paysource:")]
    return line


@pytest.fixture
def empty_database(postgres: LocalPostgres) -> str:
    name = f"empty_{free_port()}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"


def test_a_database_url_that_is_set_wins_over_the_servers_of_a_running_serve(
    settings: Settings,
    postgres: LocalPostgres,
    redis_server: LocalRedis,
    empty_database: str,
    tmp_path: Path,
) -> None:
    # A running `paysource serve` published its (migrated) local database and its Redis.
    published = {
        "database_url": settings.database_url,
        "redis_url": settings.redis_url,
        "ports": f"{postgres.port},{redis_server.port}",
    }
    (tmp_path / "services.json").write_text(json.dumps(published))
    env = env_for(None, PAYSOURCE_LOCAL_DIR=str(tmp_path), PAYSOURCE_DATABASE_URL=empty_database)

    result = paysource("migrate", env=env)

    assert result.returncode == 0, result.stderr
    assert f"migrations: {len(list(MIGRATIONS_DIR.glob('*.sql')))} applied" in result.stdout
    assert f"database: {empty_database} (PAYSOURCE_DATABASE_URL)" in result.stderr


def test_every_command_says_which_database_and_redis_it_uses_with_the_password_masked(
    settings: Settings,
) -> None:
    # The local test server trusts every password: any one connects.
    assert settings.database_url is not None
    with_password = settings.database_url.replace("postgres@", f"postgres:{SECRET}@")

    result = paysource(
        "projections", "status", env=env_for(settings, PAYSOURCE_DATABASE_URL=with_password)
    )

    assert result.returncode == 0, result.stderr
    masked = settings.database_url.replace("postgres@", "postgres:***@")
    assert f"database: {masked} (PAYSOURCE_DATABASE_URL)" in result.stderr
    assert f"redis: {settings.redis_url} (PAYSOURCE_REDIS_URL)" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_every_configuration_problem_is_reported_at_once_one_line_each_without_values() -> None:
    env = env_for(None, PAYSOURCE_ENV="production", PAYSOURCE_ADMIN_KEY=SECRET)
    env["PAYSOURCE_WEBHOOK_SIGNING_KEY"] = "whk_development_only_not_a_secret"
    env["PAYSOURCE_PORT"] = "99999"
    del env["PAYSOURCE_WEBHOOK_ALLOW_PRIVATE_NETWORKS"]

    result = paysource("migrate", env=env)

    assert result.returncode == 2
    problems = result.stderr.splitlines()[1:]
    assert [line.split()[0].rstrip(":") for line in problems] == [
        "PAYSOURCE_PORT",
        "PAYSOURCE_ADMIN_KEY",
        "PAYSOURCE_WEBHOOK_SIGNING_KEY",
        "PAYSOURCE_DATABASE_URL",
        "PAYSOURCE_JWT_SECRET",
        "PAYSOURCE_PII_MASTER_KEY",
    ]
    assert SECRET not in result.stderr
    assert "99999" not in result.stderr
    assert "pydantic" not in result.stderr
    assert "input_value" not in result.stderr


def test_an_unreachable_database_is_one_line_naming_the_masked_url() -> None:
    port = free_port()
    url = f"postgresql://app:{SECRET}@127.0.0.1:{port}/paysource"

    result = paysource("migrate", env=env_for(None, PAYSOURCE_DATABASE_URL=url))

    assert result.returncode == 1
    assert one_line(result.stderr) == (
        f"paysource: cannot connect to the database postgresql://app:***@127.0.0.1:{port}"
        "/paysource: Connection refused"
    )
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr


def test_a_missing_database_is_one_line_saying_so(postgres: LocalPostgres) -> None:
    url = postgres.url.rsplit("/", 1)[0] + "/no_such_database"

    result = paysource("migrate", env=env_for(None, PAYSOURCE_DATABASE_URL=url))

    assert result.returncode == 1
    assert 'database "no_such_database" does not exist' in one_line(result.stderr)
    assert "Traceback" not in result.stderr


def test_an_unreachable_redis_is_a_warning_at_start_not_a_failure(settings: Settings) -> None:
    port = free_port()
    env = env_for(settings, PAYSOURCE_REDIS_URL=f"redis://127.0.0.1:{port}/0")

    result = paysource("projections", "status", env=env)

    assert result.returncode == 0, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert f"redis redis://127.0.0.1:{port}/0 does not answer" in warning
    assert "rate limits are off" in warning


def test_a_port_in_use_is_refused_before_anything_starts(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()

        result = paysource("serve", "--port", str(port), env=env_for(settings))

    assert result.returncode == 1
    assert one_line(result.stderr) == (
        f"paysource: port {port} on 127.0.0.1 is in use by another program;"
        " choose another with --port or PAYSOURCE_PORT"
    )
    assert "serving" not in result.stderr
    assert "migrations" not in result.stderr
    assert time.monotonic() - started < 20


@pytest.mark.slow
def test_a_second_serve_names_the_running_one_instead_of_starting(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    port = free_port()
    env = env_for(None, PAYSOURCE_LOCAL_DIR=str(tmp_path / "local"))
    request.addfinalizer(lambda: remove_postgres_data(tmp_path / "local"))
    with serving(env, port) as first:
        for second_port in (port, free_port()):
            second = subprocess.run(
                [sys.executable, "-m", "paysource", "serve", "--port", str(second_port)],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

            assert second.returncode == 1
            assert one_line(second.stderr) == (
                f"paysource: paysource is already running at http://127.0.0.1:{port}"
                f" (pid {first.pid}); use it, or stop it with Ctrl-C in its terminal"
            )
            assert "kill -INT" not in second.stderr
        assert first.poll() is None


def test_an_argument_that_is_not_utf8_is_a_usage_error_not_a_traceback() -> None:
    # b"Acme\xff" on the command line reaches Python as "Acme\udcff" (surrogateescape).
    result = paysource("merchants", "create", "--name", "Acme\udcff", env=env_for(None))

    assert result.returncode == 2
    assert "argument 4 is not UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_cell_move_with_the_database_down_is_one_line(settings: Settings) -> None:
    url = f"postgresql://app:{SECRET}@127.0.0.1:{free_port()}/paysource"
    env = env_for(settings, PAYSOURCE_DATABASE_URL=url)

    result = paysource("cells", "move", "mer_" + "0" * 32, "--to", "cell-1", env=env)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("paysource: database: couldn't get a connection"), result.stderr
    assert SECRET not in result.stderr
