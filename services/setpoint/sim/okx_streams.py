"""OKX private websocket streams: the `orders` and `positions` channels of logged-in sockets.

A socket subscribes with `{"op": "subscribe", "args": [{"channel", "instType", "instId"?}]}`
(instType SPOT, SWAP or ANY; `positions` takes SWAP or ANY). Every order change is pushed
as `{"arg": {"channel": "orders", "instType", "uid"}, "data": [order row]}`, the row
carrying the fill that made the change (`tradeId`, `fillSz`, `fillPx`, `fillFee`,
`execType`) when there is one; after a command that moved a perpetual's position, that
position is pushed on `positions` (with `pos` "0" once flat). A new `positions`
subscription gets the open positions at once, as OKX sends its initial snapshot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web

from setpoint.sim import okx_wire
from setpoint.sim.engine import Engine
from setpoint.sim.markets import SimMarket
from setpoint.sim.orders import Event, Execution, WalletTouched
from setpoint.sim.streams import send


@dataclass(frozen=True, slots=True)
class Subscription:
    channel: str
    inst_type: str
    inst_id: str | None = None

    def wants(self, channel: str, market: SimMarket) -> bool:
        return (
            self.channel == channel
            and self.inst_type in ("ANY", okx_wire.inst_type(market))
            and self.inst_id in (None, okx_wire.inst_id(market))
        )

    def arg(self) -> dict[str, str]:
        arg = {"channel": self.channel, "instType": self.inst_type, "uid": okx_wire.UID}
        if self.inst_id is not None:
            arg["instId"] = self.inst_id
        return arg


@dataclass(slots=True)
class Session:
    """One private socket: logged in or not, and what it subscribed to."""

    logged_in: bool = False
    subscriptions: set[Subscription] = field(default_factory=set)


class OkxHub:
    """Open private sockets of the OKX dialect."""

    def __init__(self) -> None:
        self.sessions: dict[web.WebSocketResponse, Session] = {}

    def open(self, socket: web.WebSocketResponse) -> Session:
        return self.sessions.setdefault(socket, Session())

    def forget(self, socket: web.WebSocketResponse) -> None:
        self.sessions.pop(socket, None)

    async def drop_all(self) -> None:
        """Close every private socket (fault `ws_drop`, stop)."""
        for socket in list(self.sessions):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await socket.close(code=WSCloseCode.GOING_AWAY, message=b"dropped")
        self.sessions.clear()

    async def snapshot(
        self, socket: web.WebSocketResponse, sub: Subscription, engine: Engine, now_ms: int
    ) -> None:
        """The initial push of a new `positions` subscription: the open positions."""
        if sub.channel != "positions":
            return
        rows = [
            okx_wire.position(engine, m, now_ms)
            for m in engine.markets.all
            if m.is_perp
            and sub.wants("positions", m)
            and engine.margin.position(m.symbol).quantity != 0
        ]
        await send(socket, {"arg": sub.arg(), "data": rows})

    async def publish(self, events: Iterable[Event], engine: Engine, now_ms: int) -> None:
        """Push one command's order changes, then the positions it moved, in order."""
        if not self.sessions:
            return
        moved: list[str] = []
        for event in events:
            if isinstance(event, WalletTouched):
                if event.perp and event.symbol is not None and event.symbol not in moved:
                    moved.append(event.symbol)
                continue
            market = engine.market(event.order.symbol)
            await self._push("orders", market, okx_wire.pushed_order(engine, event))
        for symbol in moved:
            market = engine.market(symbol)
            await self._push("positions", market, okx_wire.position(engine, market, now_ms))

    async def _push(self, channel: str, market: SimMarket, row: dict[str, Any]) -> None:
        for socket, session in list(self.sessions.items()):
            for sub in session.subscriptions:
                if sub.wants(channel, market) and not await send(
                    socket, {"arg": sub.arg(), "data": [row]}
                ):
                    self.forget(socket)
                    break


__all__ = ["Execution", "OkxHub", "Session", "Subscription"]
