"""A small HTTP/2 client for the push channels: one origin, a pool of connections, each an asyncio Protocol.

Laid out by concern, each module importing only those before it in this list:

* :mod:`~gateway.channels.http2.frames`: the frame codec, pure (no I/O, no state), shared with the sandbox server
  (:mod:`gateway.sandbox.h2server`) and the tests;
* :mod:`~gateway.channels.http2.connection`: the life cycle every connection shares (stream limit, GOAWAY
  draining, timeouts, PING health) and the :class:`Response`;
* :mod:`~gateway.channels.http2.native`: the default connection, our own framing on the codec;
* :mod:`~gateway.channels.http2.h2adapter`: the connection over the h2 or jh2 library;
* :mod:`~gateway.channels.http2.pool`: the pool, given a connection factory (see its docstring for what it
  guarantees: stream limits, GOAWAY and REFUSED_STREAM resends, MaybeSent on loss, PING);
* :mod:`~gateway.channels.http2.impls`: the implementations by name, and the :class:`Pool` that takes a name.

The names below are re-exported here for the channels (`http2.Pool`, `http2.client_ssl_context`, ...). They are
resolved on first use rather than imported with the package, because importing any submodule runs this file
first: the sandbox server and the tests import :mod:`~gateway.channels.http2.frames` alone, and it must not pull
the client, asyncio and jh2 in with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.channels.http2.connection import BaseConnection, ConnectionFactory, PoolHooks, Response
    from gateway.channels.http2.h2adapter import H2AdapterConnection, load_impl
    from gateway.channels.http2.impls import Impl, Pool, connection_factory, default_impl
    from gateway.channels.http2.native import NativeConnection
    from gateway.channels.http2.pool import PoolOptions, client_ssl_context

#: Each re-exported name and the submodule that defines it.
_EXPORTS = {
    "BaseConnection": "connection",
    "ConnectionFactory": "connection",
    "PoolHooks": "connection",
    "Response": "connection",
    "H2AdapterConnection": "h2adapter",
    "load_impl": "h2adapter",
    "Impl": "impls",
    "Pool": "impls",
    "connection_factory": "impls",
    "default_impl": "impls",
    "NativeConnection": "native",
    "PoolOptions": "pool",
    "client_ssl_context": "pool",
}

__all__ = [
    "BaseConnection",
    "ConnectionFactory",
    "H2AdapterConnection",
    "Impl",
    "NativeConnection",
    "Pool",
    "PoolHooks",
    "PoolOptions",
    "Response",
    "client_ssl_context",
    "connection_factory",
    "default_impl",
    "load_impl",
]


def __getattr__(name: str) -> object:
    """Import a re-exported name's module on first use (see the module docstring for why)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups find it without coming back here
    return value
