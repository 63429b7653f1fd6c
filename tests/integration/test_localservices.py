"""The local PostgreSQL and Redis servers that `./dev` and the test suite start."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis

from devtools.localservices import (
    LocalPostgres,
    LocalRedis,
    LocalServiceError,
    find_pg_bin,
    find_redis_server,
    port_accepts,
    remove_postgres_data,
)


def test_ephemeral_postgres_serves_its_url_and_stop_closes_the_port(tmp_path: Path) -> None:
    with LocalPostgres.start(tmp_path, ephemeral=True) as pg:
        assert pg.psql("SELECT 1") == "1"
        assert pg.psql("SHOW fsync") == "off"
        with psycopg.connect(pg.url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("paysource",)
        data_dir = pg.data_dir
    assert not pg.is_running()
    assert not port_accepts(pg.port)
    assert not data_dir.exists()
    assert (tmp_path / "pg" / "server.log").is_file()
    pg.stop()  # a second stop is harmless


def test_persistent_postgres_keeps_its_data_across_restarts(tmp_path: Path) -> None:
    with LocalPostgres.start(tmp_path, ephemeral=False) as pg:
        pg.psql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
    try:
        with LocalPostgres.start(tmp_path, ephemeral=False) as pg:
            assert pg.psql("SELECT n FROM kept") == "7"
            assert pg.psql("SHOW fsync") == "on"
    finally:
        # As root, the data lives in /var/tmp/paysource-*, which nobody else cleans.
        remove_postgres_data(tmp_path)


def test_psql_reports_sql_errors(tmp_path: Path) -> None:
    with (
        LocalPostgres.start(tmp_path, ephemeral=True) as pg,
        pytest.raises(LocalServiceError, match="no_such_table"),
    ):
        pg.psql("SELECT * FROM no_such_table")


def test_redis_serves_its_url_and_stop_closes_the_port(tmp_path: Path) -> None:
    with LocalRedis.start(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
    assert not port_accepts(server.port)


def test_redis_restarts_on_the_same_port_after_a_crash(tmp_path: Path) -> None:
    with LocalRedis.start(tmp_path) as server:
        port = server.port
        client = redis.Redis.from_url(server.url, socket_timeout=2)
        client.set("k", "v")
        server.kill()
        assert not port_accepts(port)
        with pytest.raises(redis.ConnectionError):
            client.ping()
        server.restart()
        assert server.port == port
        assert client.ping()
        assert client.get("k") is None  # no persistence: a restart starts empty
        client.close()


def _fake_pg_bin(root: Path, version: str) -> None:
    bin_dir = root / version / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("initdb", "postgres"):
        (bin_dir / name).write_text("")
        (bin_dir / name).chmod(stat.S_IRWXU)


def test_find_pg_bin_prefers_version_15_then_the_newest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAYSOURCE_PG_BIN", raising=False)
    for version in ("13", "15", "16"):
        _fake_pg_bin(tmp_path, version)
    assert find_pg_bin(tmp_path) == tmp_path / "15" / "bin"
    (tmp_path / "15" / "bin" / "postgres").unlink()
    assert find_pg_bin(tmp_path) == tmp_path / "16" / "bin"


def test_missing_binaries_point_at_dev_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAYSOURCE_PG_BIN", raising=False)
    monkeypatch.delenv("PAYSOURCE_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalServiceError, match=r"\./dev setup"):
        find_pg_bin(tmp_path)
    with pytest.raises(LocalServiceError, match=r"\./dev setup"):
        find_redis_server()


STARTER = """
import sys, time
from pathlib import Path
from devtools.localservices import LocalPostgres, LocalRedis
base = Path(sys.argv[1])
servers = [LocalRedis.start(base), LocalPostgres.start(base, ephemeral=False)]
print(" ".join(str(server.port) for server in servers), flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_local_servers_stop_when_the_process_that_started_them_is_killed(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    request.addfinalizer(lambda: remove_postgres_data(tmp_path))
    assert owner.stdout is not None
    ports = [int(port) for port in owner.stdout.readline().split()]
    assert len(ports) == 2
    assert all(port_accepts(port) for port in ports)

    owner.kill()  # kill -9: no atexit, no cleanup of ours runs
    owner.wait()

    deadline = time.monotonic() + 30
    while any(port_accepts(port) for port in ports):
        assert time.monotonic() < deadline, "orphaned servers are still running"
        time.sleep(0.1)
    # And the next start on the same folder works (no stale "already runs").
    with LocalPostgres.start(tmp_path, ephemeral=False) as again:
        assert again.psql("SELECT 1").strip() == "1"
