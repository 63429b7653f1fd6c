"""CPU seconds spent during a phase: by the machine, the API, the database and the rest.

On a small shared machine throughput swings with whatever else runs; CPU time per payment
does not, so it is the figure to compare across runs. Linux only (/proc).
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuUse:
    """Seconds of wall time and of CPU; `ours_s` is this script and the tools it ran."""

    wall_s: float = 0.0
    machine_s: float = 0.0
    api_s: float = 0.0
    db_s: float = 0.0
    ours_s: float = 0.0

    def __sub__(self, earlier: CpuUse) -> CpuUse:
        return CpuUse(*(getattr(self, k) - getattr(earlier, k) for k in self.__dataclass_fields__))

    def cores(self, cpu_s: float) -> float:
        return cpu_s / self.wall_s if self.wall_s else 0.0

    @property
    def others_s(self) -> float:
        """CPU of processes this run did not start (other users' work, and Redis)."""
        return max(0.0, self.machine_s - self.api_s - self.db_s - self.ours_s)


def machine_busy_s() -> float:
    # cpu user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICKS_PER_S


def _stat(pid: int) -> list[str]:
    # The command name, in parentheses, may hold spaces: split after its last ")".
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_cpu_s(pid: int | None) -> float:
    """CPU of a process (all its threads), of its children that ended, and of the live ones.

    Postgres forks a backend per connection: one that ends between two readings moves
    from the live sum into its parent's "children" fields, so the difference stays right.
    """
    if pid is None:
        return 0.0
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    total = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                child = _stat(int(entry.name))
                if int(child[1]) == pid:
                    total += int(child[11]) + int(child[12])
    return total / TICKS_PER_S


def own_cpu_s() -> float:
    """This process and its ended children (pgbench, wrk): both are waited for in a phase."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    tools = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + tools.ru_utime + tools.ru_stime


def reading(api_pid: int | None, db_pid: int | None) -> CpuUse:
    return CpuUse(
        time.monotonic(), machine_busy_s(), tree_cpu_s(api_pid), tree_cpu_s(db_pid), own_cpu_s()
    )


@contextlib.contextmanager
def phase(api_pid: int | None, db_pid: int | None) -> Iterator[list[CpuUse]]:
    """Yields a list that holds the phase's CpuUse once the block is done."""
    found: list[CpuUse] = []
    start = reading(api_pid, db_pid)
    yield found
    found.append(reading(api_pid, db_pid) - start)


def worker_children(pid: int) -> list[int]:
    """The `paysource worker` children of `paysource serve` (pid `pid`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if int(_stat(int(entry.name))[1]) == pid and b"worker" in argv:
                    found.append(int(entry.name))
    return found


# The application_name of the rails' stand-ins' connections (adapters' ThreadConnections).
RAILS = ("acquirer_sim", "bank_sim")


def rail_backends_cpu_s(db_url: str) -> dict[int, float]:
    """CPU so far of each Postgres backend a simulated rail (acquirer, bank) is connected
    through, by pid: work a real, remote rail would not put on our database. Only for a
    Postgres on this machine (its backends' /proc)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        pids = [
            int(row[0])
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = ANY(%s)", (list(RAILS),)
            )
        ]
    found: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            fields = _stat(pid)
            found[pid] = (int(fields[11]) + int(fields[12])) / TICKS_PER_S
    return found


def rail_cpu_s(before: dict[int, float], after: dict[int, float]) -> float:
    """The rails' backends' CPU between two readings (a backend new since counts whole)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
