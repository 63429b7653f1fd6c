"""An unreachable Redis is warned about at every check while it lasts, and the cache's
`healthy` flag says so (readiness and metrics read it)."""

from __future__ import annotations

import logging

import pytest

from devtools.localservices import free_port
from paysource.adapters.redis.cache import RedisCache
from paysource.adapters.redis.watch import RedisWatch


def test_each_check_warns_while_redis_is_down_and_the_flag_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    cache = RedisCache(url, timeout_s=0.2)
    watch = RedisWatch(cache, url)

    with caplog.at_level(logging.WARNING, logger="paysource.redis"):
        watch.check()
        watch.check()

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all(f"redis {url} does not answer" in warning for warning in warnings)
    assert cache.healthy is False
    cache.close()


def test_a_started_watch_stops_at_once() -> None:
    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    watch = RedisWatch(cache, "redis://…", interval_s=60)

    watch.start()
    watch.stop()

    assert not watch._thread.is_alive()
    cache.close()
