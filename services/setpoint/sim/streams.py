"""User-data streams: the spot WebSocket API subscription and USD-M listenKey streams.

Spot (what ccxt.pro 4.5 does): connect to `/ws-api/v3`, send
`{"id", "method": "userDataStream.subscribe.signature", "params": {apiKey, timestamp,
recvWindow, signature}}`; the answer is `{"id", "status": 200, "result": {"subscriptionId"}}`
and then every event comes as `{"subscriptionId", "event": {...}}`: `executionReport` per
order change, then one `outboundAccountPosition` with the changed assets.

USD-M: `POST /fapi/v1/listenKey` gives a key (valid 60 minutes, `PUT` extends it), the
stream is `/private/ws?listenKey=KEY` (also `/ws/KEY`); events are `ORDER_TRADE_UPDATE`
per order change, then one `ACCOUNT_UPDATE` with wallet and position. The legacy spot
listenKey (`POST /api/v3/userDataStream`, stream `/ws/KEY`) gets the spot events unwrapped.
An expired key gets `listenKeyExpired` and its streams are closed; a closed stream is never
reopened by us. Keys expire 60 minutes after their last keep-alive (checked when used).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import WSCloseCode, web

from setpoint.core.events import OrderStatus
from setpoint.sim.engine import Engine
from setpoint.sim.orders import Event, Execution, WalletTouched
from setpoint.sim.snapshot import dec
from setpoint.sim.wire import ms, spot_dec

LISTEN_KEY_TTL_MS = 60 * 60 * 1000


@dataclass(slots=True)
class ListenKey:
    key: str
    perp: bool
    expires_ms: int


class StreamHub:
    """Open user-data streams and the listen keys that name them."""

    def __init__(self, ttl_ms: int = LISTEN_KEY_TTL_MS) -> None:
        self.ttl_ms = ttl_ms
        self.spot: dict[web.WebSocketResponse, int] = {}  # socket -> subscriptionId
        self.perp: dict[web.WebSocketResponse, str] = {}  # socket -> listenKey
        self.spot_keyed: dict[web.WebSocketResponse, str] = {}  # legacy spot listenKey
        self.keys: dict[str, ListenKey] = {}
        self._next_subscription = 0

    # --------------------------------------------------------------- keys

    def new_key(self, perp: bool, now_ms: int) -> str:
        """A fresh listen key; Binance hands back the live one when there is one."""
        for found in self.keys.values():
            if found.perp == perp and found.expires_ms > now_ms:
                found.expires_ms = now_ms + self.ttl_ms
                return found.key
        key = secrets.token_urlsafe(48)[:64]
        self.keys[key] = ListenKey(key, perp, now_ms + self.ttl_ms)
        return key

    def keep_alive(self, key: str, perp: bool, now_ms: int) -> bool:
        found = self.keys.get(key) if key else self._any(perp, now_ms)
        if found is None or found.perp != perp or found.expires_ms <= now_ms:
            return False
        found.expires_ms = now_ms + self.ttl_ms
        return True

    def delete_key(self, key: str) -> None:
        self.keys.pop(key, None)

    def valid(self, key: str, now_ms: int) -> bool:
        found = self.keys.get(key)
        return found is not None and found.expires_ms > now_ms

    def _any(self, perp: bool, now_ms: int) -> ListenKey | None:
        return next(
            (k for k in self.keys.values() if k.perp == perp and k.expires_ms > now_ms), None
        )

    # ----------------------------------------------------------- sockets

    def subscribe_spot(self, socket: web.WebSocketResponse) -> int:
        subscription = self._next_subscription
        self._next_subscription += 1
        self.spot[socket] = subscription
        return subscription

    def attach(self, socket: web.WebSocketResponse, key: str) -> None:
        """A listenKey stream: USD-M, or the legacy spot one (events unwrapped)."""
        found = self.keys[key]
        (self.perp if found.perp else self.spot_keyed)[socket] = key

    def forget(self, socket: web.WebSocketResponse) -> None:
        self.spot.pop(socket, None)
        self.perp.pop(socket, None)
        self.spot_keyed.pop(socket, None)

    def _sockets(self) -> list[web.WebSocketResponse]:
        return [*self.spot, *self.perp, *self.spot_keyed]

    def _clear(self) -> None:
        self.spot.clear()
        self.perp.clear()
        self.spot_keyed.clear()

    async def drop_all(self) -> None:
        """Close every open user-data stream (fault `ws_drop`)."""
        for socket in self._sockets():
            await _close(socket, WSCloseCode.GOING_AWAY, b"dropped by the simulator")
        self._clear()

    async def expire_due(self, now_ms: int) -> None:
        """Streams whose key outlived its keep-alive get `listenKeyExpired` and are closed."""
        for socket, key in [*self.perp.items(), *self.spot_keyed.items()]:
            if not self.valid(key, now_ms):
                await send(socket, {"e": "listenKeyExpired", "E": now_ms, "listenKey": key})
                await _close(socket, WSCloseCode.POLICY_VIOLATION, b"listenKey expired")
                self.forget(socket)

    async def expire_all(self, now_ms: int) -> None:
        """Expire every listen key: `listenKeyExpired`, then close (fault listen_key_expire).
        Spot WebSocket API subscriptions get `eventStreamTerminated`."""
        for listen_key in self.keys.values():
            listen_key.expires_ms = now_ms
        for socket, key in [*self.perp.items(), *self.spot_keyed.items()]:
            await send(socket, {"e": "listenKeyExpired", "E": now_ms, "listenKey": key})
            await _close(socket, WSCloseCode.POLICY_VIOLATION, b"listenKey expired")
        for socket, subscription in list(self.spot.items()):
            event = {"e": "eventStreamTerminated", "E": now_ms}
            await send(socket, {"subscriptionId": subscription, "event": event})
        self._clear()

    async def close(self) -> None:
        for socket in self._sockets():
            await _close(socket, WSCloseCode.GOING_AWAY, b"simulator stopping")
        self._clear()

    # ---------------------------------------------------------- publishing

    async def publish(
        self,
        events: Iterable[Event],
        engine: Engine,
        now_ms: int,
        cancel_ids: dict[int, str] | None = None,
    ) -> None:
        """Send the events of one engine command to every subscriber, in order."""
        spot_assets: set[str] = set()
        perp_assets: set[tuple[str, str | None]] = set()
        for event in events:
            if isinstance(event, WalletTouched):
                if event.perp:
                    perp_assets.update((a, event.symbol) for a in event.assets)
                else:
                    spot_assets.update(event.assets)
                continue
            await self._order_event(event, engine, now_ms, cancel_ids or {})
        if spot_assets and (self.spot or self.spot_keyed):
            await self._to_spot(outbound_position(engine, sorted(spot_assets), now_ms))
        if perp_assets and self.perp:
            await self._to_perp(account_update(engine, perp_assets, now_ms))

    async def _order_event(
        self, event: Execution, engine: Engine, now_ms: int, cancel_ids: dict[int, str]
    ) -> None:
        market = engine.market(event.order.symbol)
        if market.is_perp:
            if self.perp:
                await self._to_perp(order_trade_update(event, market.venue_id, now_ms))
        elif self.spot or self.spot_keyed:
            cancel_id = cancel_ids.get(event.order.order_id)
            await self._to_spot(execution_report(event, market.venue_id, now_ms, cancel_id))

    async def _to_spot(self, payload: dict[str, Any]) -> None:
        for socket, subscription in list(self.spot.items()):
            if not await send(socket, {"subscriptionId": subscription, "event": payload}):
                self.forget(socket)
        for socket in list(self.spot_keyed):
            if not await send(socket, payload):
                self.forget(socket)

    async def _to_perp(self, payload: dict[str, Any]) -> None:
        for socket in list(self.perp):
            if not await send(socket, payload):
                self.forget(socket)


async def send(socket: web.WebSocketResponse, payload: dict[str, Any]) -> bool:
    """Send `payload` as JSON; False when the socket is closed or the send fails (the
    caller forgets the socket)."""
    if socket.closed:
        return False
    try:
        await socket.send_json(payload)
    except (ConnectionError, RuntimeError):
        return False
    return True


async def _close(socket: web.WebSocketResponse, code: int, message: bytes) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await socket.close(code=code, message=message)


def execution_report(
    event: Execution, venue_id: str, now_ms: int, cancel_id: str | None = None
) -> dict[str, Any]:
    """Spot `executionReport`."""
    order, trade = event.order, event.trade
    canceled = event.exec_type.value == "CANCELED"
    return {
        "e": "executionReport",
        "E": now_ms,
        "s": venue_id,
        "c": cancel_id if canceled and cancel_id else order.client_order_id,
        "S": order.side.value.upper(),
        "o": order.kind.value,
        "f": order.tif.value,
        "q": spot_dec(order.quantity),
        "p": spot_dec(order.price or Decimal(0)),
        "P": spot_dec(Decimal(0)),
        "F": spot_dec(Decimal(0)),
        "g": -1,
        "C": order.client_order_id if canceled and cancel_id else "",
        "x": event.exec_type.value,
        "X": order.status.value,
        "r": "NONE",
        "i": order.order_id,
        "l": spot_dec(trade.quantity if trade else Decimal(0)),
        "z": spot_dec(order.filled),
        "L": spot_dec(trade.price if trade else Decimal(0)),
        "n": spot_dec(trade.fee) if trade else "0",
        "N": trade.fee_asset if trade else None,
        "T": ms(order.updated_us),
        "t": trade.trade_id if trade else -1,
        "I": order.order_id * 10 + (trade.trade_id if trade else 0),
        "w": order.is_open and order.price is not None,
        "m": trade.maker if trade else False,
        "M": False,
        "O": ms(order.created_us),
        "Z": spot_dec(order.cum_quote),
        "Y": spot_dec(trade.quote_quantity if trade else Decimal(0)),
        "Q": spot_dec(Decimal(0)),
        "W": ms(order.created_us),
        "V": "NONE",
    }


def order_trade_update(event: Execution, venue_id: str, now_ms: int) -> dict[str, Any]:
    """USD-M `ORDER_TRADE_UPDATE`."""
    order, trade = event.order, event.trade
    body = {
        "s": venue_id,
        "c": order.client_order_id,
        "S": order.side.value.upper(),
        "o": order.kind.value,
        "f": order.tif.value,
        "q": dec(order.quantity),
        "p": dec(order.price or Decimal(0)),
        "ap": dec(order.average),
        "sp": "0",
        "x": event.exec_type.value,
        "X": order.status.value,
        "i": order.order_id,
        "l": dec(trade.quantity if trade else Decimal(0)),
        "z": dec(order.filled),
        "L": dec(trade.price if trade else Decimal(0)),
        "N": trade.fee_asset if trade else "USDT",
        "n": dec(trade.fee if trade else Decimal(0)),
        "T": ms(order.updated_us),
        "t": trade.trade_id if trade else 0,
        "b": "0",
        "a": "0",
        "m": trade.maker if trade else False,
        "R": order.reduce_only,
        "wt": "CONTRACT_PRICE",
        "ot": order.kind.value,
        "ps": "BOTH",
        "cp": False,
        "rp": dec(trade.realized_pnl if trade else Decimal(0)),
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": "NONE",
        "pm": "NONE",
        "gtd": 0,
    }
    if order.status is OrderStatus.CANCELED:
        body["x"] = "CANCELED"
    return {"e": "ORDER_TRADE_UPDATE", "E": now_ms, "T": ms(order.updated_us), "o": body}


def outbound_position(engine: Engine, assets: list[str], now_ms: int) -> dict[str, Any]:
    """Spot `outboundAccountPosition` for the assets that changed."""
    rows = []
    for asset in assets:
        balance = engine.spot.balance(asset)
        rows.append({"a": asset, "f": spot_dec(balance.free), "l": spot_dec(balance.locked)})
    return {"e": "outboundAccountPosition", "E": now_ms, "u": now_ms, "B": rows}


def account_update(
    engine: Engine, touched: set[tuple[str, str | None]], now_ms: int
) -> dict[str, Any]:
    """USD-M `ACCOUNT_UPDATE`: wallet of the touched assets and their symbols' positions."""
    assets = sorted({asset for asset, _ in touched})
    symbols = sorted({symbol for _, symbol in touched if symbol is not None})
    balances = [
        {
            "a": a,
            "wb": dec(engine.margin.wallet.get(a, Decimal(0))),
            "cw": dec(engine.margin.wallet.get(a, Decimal(0))),
            "bc": "0",
        }
        for a in assets
    ]
    positions = []
    for symbol in symbols:
        market = engine.market(symbol)
        position = engine.margin.position(symbol)
        positions.append(
            {
                "s": market.venue_id,
                "pa": dec(position.quantity),
                "ep": dec(position.entry_price),
                "bep": dec(position.entry_price),
                "cr": "0",
                "up": dec(position.unrealized(engine.last_price(symbol))),
                "mt": "cross",
                "iw": "0",
                "ps": "BOTH",
            }
        )
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "a": {"m": "ORDER", "B": balances, "P": positions},
    }
