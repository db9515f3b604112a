"""gateway.redisconn: the URL shown in messages, the backoff, and one log line per outage."""

from __future__ import annotations

import logging

import pytest

from gateway import redisconn
from gateway.config import from_dict


@pytest.mark.parametrize("url,shown", [
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://:s3cret@10.0.0.5:6380/2", "redis://10.0.0.5:6380/2"),
    ("rediss://gw:s3cret@cache.example.com/0", "rediss://gw@cache.example.com/0"),
    ("redis://[::1]:6379/0?password=s3cret", "redis://[::1]:6379/0"),
    ("unix:///run/redis.sock?db=1&password=s3cret", "unix:///run/redis.sock"),
])
def test_redact_keeps_where_and_drops_every_password(url: str, shown: str) -> None:
    assert redisconn.redact(url) == shown


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    delays = [0.0]
    for _ in range(10):
        delays.append(redisconn.next_delay(delays[-1]))
    assert delays[1:4] == [0.1, 0.2, 0.4] and max(delays) == redisconn.BACKOFF_CAP_S == delays[-1]


def test_an_outage_is_one_line_when_it_starts_and_one_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    log = logging.getLogger("test.outage")
    outage = redisconn.Outage("redis://:pw@127.0.0.1:6390/0", log, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="test.outage"):
        for _ in range(50):  # every loop of the worker reporting every attempt
            outage.failed(ConnectionRefusedError(111, "Connection refused"), "reading gateway:send")
            now[0] += 0.5
        outage.ok()
        outage.ok()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "Redis at redis://127.0.0.1:6390/0 is unavailable" in lines[0] and "pw" not in lines[0]
    assert lines[1] == "Redis at redis://127.0.0.1:6390/0 is back after 25.0s"
    assert not outage.down


def test_pool_settings_come_from_config() -> None:
    cfg = from_dict({"redis_url": "redis://127.0.0.1:1/0", "redis_max_connections": 3, "redis_pool_timeout_s": 2.5})
    client = redisconn.connect(cfg)
    pool = client.connection_pool
    assert (type(pool).__name__, pool.max_connections, pool.timeout) == ("BlockingConnectionPool", 3, 2.5)
    assert redisconn.connect(cfg, max_connections=7).connection_pool.max_connections == 7
