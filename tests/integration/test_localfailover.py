"""The pg_auto_failover formation the failover test starts (devtools/localfailover.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.binaries import find_pg_bin
from devtools.localfailover import Keeper, LocalFailover

pytestmark = pytest.mark.slow


@pytest.fixture
def busy_primary(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Writes on the first node from the moment the second one is launched, so that the
    second's base backup meets a primary with dirty buffers, as under the failover test's
    payments (CI: a base backup still waiting for its checkpoint after 90 s)."""
    launch = LocalFailover._launch
    loads: list[subprocess.Popen[bytes]] = []

    def launch_beside_load(formation: LocalFailover, keeper: Keeper) -> None:
        if keeper is formation.nodes[1]:
            where = ["-h", "127.0.0.1", "-p", str(formation.nodes[0].port), "-U", "postgres"]
            pgbench = str(find_pg_bin() / "pgbench")
            subprocess.run([pgbench, "-q", "-i", "-s", "5", *where, "postgres"], check=True)
            loads.append(
                subprocess.Popen(
                    [pgbench, "-c", "4", "-T", "300", *where, "postgres"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        launch(formation, keeper)

    monkeypatch.setattr(LocalFailover, "_launch", launch_beside_load)
    try:
        yield
    finally:
        for load in loads:
            load.kill()
            load.wait()


@pytest.mark.usefixtures("busy_primary")
def test_a_standby_joining_a_busy_primary_is_replicating_when_start_returns(
    tmp_path: Path,
) -> None:
    with LocalFailover.start(tmp_path) as formation:
        reported = sorted(reported for reported, _ in formation.states().values())
        assert reported == ["primary", "secondary"]
