"""Pace a ccxt REST client by the venue's own counting (`ratelimit.Pacer`).

`install(exchange, pacer)` wraps the client's `fetch2` (every REST request ccxt makes goes
through it, `load_markets`' several requests included): before the request its charges
are booked (waiting for them, or, inside `unpaced()`, only counting them: a call already
paced by the executor's bucket), after the answer the venue's own count (its headers, e.g.
Binance's `X-MBX-USED-WEIGHT-1M`) is trusted over ours. ccxt's own throttler stays off
(`enableRateLimit` False): one pacer per account, shared by every caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from setpoint.venues.ratelimit import Pacer, Request

__all__ = ["install", "unpaced"]

_PACED: ContextVar[bool] = ContextVar("setpoint_venue_paced", default=True)


@contextlib.contextmanager
def unpaced() -> Iterator[None]:
    """Requests made in this block (this task) are counted, never waited for."""
    token = _PACED.set(False)
    try:
        yield
    finally:
        _PACED.reset(token)


def _section(api: Any) -> str:
    """ccxt passes the api section as a string or a list (okx: ['private'])."""
    if isinstance(api, (list, tuple)):
        return "/".join(str(part) for part in api)
    return str(api)


def install(exchange: Any, pacer: Pacer) -> Any:
    """Wrap `exchange.fetch2` (an instance attribute: ccxt looks it up per call)."""
    original = exchange.fetch2

    async def paced(
        path: str, api: Any = "public", method: str = "GET", params: Any = None,
        *args: Any, **kwargs: Any,
    ) -> Any:  # fmt: skip
        values = params if isinstance(params, dict) else {}
        request = Request(_section(api), method, path, values)
        if _PACED.get():
            await pacer.acquire(request)
        else:
            pacer.charge(request)
        answer = await original(path, api, method, params if params is not None else {},
                                *args, **kwargs)  # fmt: skip
        headers = getattr(exchange, "last_response_headers", None)
        if isinstance(headers, dict):
            pacer.observe(request, headers)
        return answer

    exchange.fetch2 = paced
    return exchange
