"""Helpers for tests and demos: run the simulator in-process, drive its control API.

async with running_simulator() as server:          # free port on 127.0.0.1
    control = SimControl(server.base_url)
    await control.price("BTC/USDT", "59000")
    state = await control.state()
    await control.close()
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from setpoint.config import SimConfig
from setpoint.core.errors import ControlError as ControlError
from setpoint.sim.app import SimServer


@asynccontextmanager
async def markets_loaded(exchange: Any) -> AsyncIterator[Any]:
    """A ccxt client (`make_binance`, `make_okx`) with its markets loaded for the block,
    closed after it."""
    await exchange.load_markets()
    try:
        yield exchange
    finally:
        await exchange.close()


@asynccontextmanager
async def running_simulator(
    config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[SimServer]:
    """A started SimServer (port 0 = a free one), stopped on exit."""
    server = SimServer(config or SimConfig(), host=host, port=port)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class SimControl:
    """A client of `/_sim/...`. Prices and quantities are passed as decimal strings."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.request(method, self.base_url + path, json=body) as reply:
            payload = await reply.json()
            if reply.status != 200:
                raise ControlError(str(payload.get("error", payload)))
            return payload

    async def price(self, symbol: str, price: str) -> Any:
        return await self._call("POST", "/_sim/price", {"symbol": symbol, "price": price})

    async def liquidity(self, symbol: str, side: str, levels: Sequence[Sequence[str]]) -> Any:
        body = {"symbol": symbol, "side": side, "levels": [list(lv) for lv in levels]}
        return await self._call("POST", "/_sim/liquidity", body)

    async def fill(
        self,
        *,
        client_order_id: str | None = None,
        order_id: str | None = None,
        quantity: str | None = None,
    ) -> Any:
        body = {"client_order_id": client_order_id, "order_id": order_id, "quantity": quantity}
        return await self._call("POST", "/_sim/fill", {k: v for k, v in body.items() if v})

    async def order(
        self,
        symbol: str,
        side: str,
        type: str,
        quantity: str,
        price: str | None = None,
        client_order_id: str | None = None,
    ) -> Any:
        body = {
            "symbol": symbol,
            "side": side,
            "type": type,
            "quantity": quantity,
            "price": price,
            "client_order_id": client_order_id,
        }
        return await self._call("POST", "/_sim/orders", {k: v for k, v in body.items() if v})

    async def cancel(
        self,
        *,
        client_order_id: str | None = None,
        order_id: str | None = None,
        status: str | None = None,
    ) -> Any:
        body = {"client_order_id": client_order_id, "order_id": order_id, "status": status}
        return await self._call("POST", "/_sim/cancel", {k: v for k, v in body.items() if v})

    async def faults(self, *rules: dict[str, Any], seed: int | None = None) -> Any:
        body: dict[str, Any] = {"rules": list(rules)}
        if seed is not None:
            body["seed"] = seed
        return await self._call("POST", "/_sim/faults", body)

    async def clear_faults(self) -> Any:
        return await self._call("DELETE", "/_sim/faults")

    async def state(self) -> Any:
        return await self._call("GET", "/_sim/state")

    async def position_mode(self, mode: str) -> Any:
        return await self._call("POST", "/_sim/position-mode", {"mode": mode})

    async def reset(self) -> Any:
        return await self._call("POST", "/_sim/reset")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
