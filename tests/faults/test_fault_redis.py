"""Redis stopped, hung (SIGSTOP) and flushed under load: the API takes the Postgres path
(Redis holds nothing that cannot be lost) and every answer stays in time."""

from __future__ import annotations

import signal
import time

import pytest
import redis

from devtools.localservices import LocalRedis
from tests.faults.harness import Deployment, Load, check_books, new_merchant


@pytest.mark.slow
def test_redis_stop_hang_and_flush_under_load_lose_and_double_nothing(
    deployment: Deployment, fault_redis: LocalRedis, fault_database: str
) -> None:
    load = Load(deployment.base, new_merchant(deployment.base)).start()
    time.sleep(2)
    fault_redis.stop()
    time.sleep(3)
    fault_redis.restart()
    time.sleep(2)
    fault_redis.send_signal(signal.SIGSTOP)
    time.sleep(3)
    fault_redis.send_signal(signal.SIGCONT)
    time.sleep(1)
    redis.Redis.from_url(fault_redis.url).flushall()
    time.sleep(2)
    load.stop()
    print(f"redis stop/hang/flush: {load.summary()}")

    failed = [a for a in load.answers if a.status >= 500]
    assert not failed, f"Redis took the API down:\n{deployment.why(failed)}"
    check_books(load, fault_database)
