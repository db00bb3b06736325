"""The websocket side of the gateway: order and trade updates as hints.

`watch(...)` runs one ccxt.pro `watch_*` loop until cancelled. Each batch goes to
`on_batch`; when the stream fails (disconnect, expired listen key, anything), `on_break`
is called once per failure (the gateway then reconciles over REST, which is the truth)
and the loop waits a little before watching again, which makes ccxt reconnect.

The stream client (`venues.exchange.create_stream`) makes that reconnect work after the
venue refused the stream or ended it: an expired or refused listen key is replaced by a
new one, an ended spot subscription is made again, and its errors carry no listen key;
`redactions` (the credentials) are stripped from the logged text here as well.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from setpoint.venues.errors import redact

log = logging.getLogger(__name__)

Batch = list[dict[str, Any]]


async def watch(
    name: str,
    subscribe: Callable[[], Awaitable[Batch]],
    on_batch: Callable[[Batch], Awaitable[None]],
    on_break: Callable[[], Awaitable[None]],
    redactions: tuple[str, ...] = (),
    backoff_s: float = 0.2,  # float-ok
) -> None:
    """Watch forever (see the module docstring)."""
    delay = backoff_s
    while True:
        try:
            batch = await subscribe()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "%s stream broke: %s", name, redact(f"{type(exc).__name__}: {exc}", redactions)
            )
            await on_break()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        delay = backoff_s
        try:
            await on_batch(batch)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s update could not be recorded", name)
