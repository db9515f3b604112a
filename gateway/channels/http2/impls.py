"""The HTTP/2 connection implementations by name, and the pool that is given a name instead of a factory.

`native` (:mod:`gateway.channels.http2.native`, our own framing, measured fastest by benchmarks/bench_push.py)
is the default; `h2` and `jh2` (:mod:`gateway.channels.http2.h2adapter`) are chosen by a channel's `http2`
setting or the GATEWAY_HTTP2 environment variable. This is the one module that knows every implementation; the
pool itself only calls the factory it is given.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from gateway.channels.http2 import h2adapter, pool
from gateway.channels.http2.connection import ConnectionFactory
from gateway.channels.http2.native import NativeConnection

if TYPE_CHECKING:
    from typing_extensions import Unpack

Impl = Literal["h2", "jh2", "native"]

_BY_ENV: dict[str, Impl] = {"h2": "h2", "jh2": "jh2"}


def default_impl() -> Impl:
    """The native framing unless GATEWAY_HTTP2 names h2 or jh2."""
    return _BY_ENV.get(os.environ.get("GATEWAY_HTTP2", "native"), "native")


def connection_factory(impl: Impl | None = None) -> ConnectionFactory:
    """Makes connections of implementation `impl` (by default :func:`default_impl`)."""
    name = impl or default_impl()
    if name == "native":
        return NativeConnection
    return h2adapter.connection_factory(name)


class Pool(pool.Pool):
    """A :class:`gateway.channels.http2.pool.Pool` whose connections are the implementation named by `impl`
    (by default :func:`default_impl`); every other option is the pool's."""

    def __init__(self, host: str, port: int, *, impl: Impl | None = None, **options: Unpack[pool.PoolOptions]) -> None:
        super().__init__(host, port, connection_factory=connection_factory(impl), **options)
