"""The OKX private websocket endpoint, `/ws/v5/private` (the `?brokerId=` of OKX's demo
trading is accepted and ignored).

Text `ping` answers `pong`. `{"op": "login", "args": [...]}` answers `{"event": "login",
"code": "0", "msg": "", "connId"}` or `{"event": "error", "code", "msg", "connId"}`
(`okx_auth.verify_login`); `subscribe` / `unsubscribe` before a login answer error 60011.
Channels: `orders` (instType SPOT, SWAP or ANY, optional instId) and `positions` (SWAP
or ANY); any other channel answers error 60018. Pushes: `okx_streams`.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import WSMsgType, web

from setpoint.sim.okx_auth import verify_login
from setpoint.sim.okx_errors import OkxError
from setpoint.sim.okx_streams import Session, Subscription
from setpoint.sim.state import SIM, Simulator

CHANNELS = {"orders": ("SPOT", "SWAP", "ANY"), "positions": ("SWAP", "ANY")}


async def private(request: web.Request) -> web.WebSocketResponse:
    sim = request.app[SIM]
    socket = web.WebSocketResponse(autoping=True)
    await socket.prepare(request)
    session = sim.okx_hub.open(socket)
    conn_id = secrets.token_hex(4)
    try:
        async for message in socket:
            if message.type is not WSMsgType.TEXT:
                continue
            if message.data == "ping":
                await socket.send_str("pong")
                continue
            for answer in await _answers(sim, socket, session, message.data, conn_id):
                await socket.send_json(answer)
    finally:
        sim.okx_hub.forget(socket)
    return socket


def _error(code: str, msg: str, conn_id: str) -> dict[str, Any]:
    return {"event": "error", "code": code, "msg": msg, "connId": conn_id}


async def _answers(
    sim: Simulator, socket: web.WebSocketResponse, session: Session, text: str, conn_id: str
) -> list[dict[str, Any]]:
    try:
        request = json.loads(text)
    except ValueError:
        return [_error("60012", f"Invalid request: {text[:200]}", conn_id)]
    if not isinstance(request, dict):
        return [_error("60012", f"Invalid request: {text[:200]}", conn_id)]
    op = request.get("op")
    if op == "login":
        try:
            verify_login(request.get("args"), sim.okx_keys, sim.clock.now_ms())
        except OkxError as error:
            return [_error(str(error.code), error.msg, conn_id)]
        session.logged_in = True
        return [{"event": "login", "code": "0", "msg": "", "connId": conn_id}]
    if op not in ("subscribe", "unsubscribe"):
        return [_error("60012", f"Invalid request: {text[:200]}", conn_id)]
    if not session.logged_in:
        return [_error("60011", "Please log in", conn_id)]
    return await _subscriptions(sim, socket, session, str(op), request.get("args"), conn_id)


async def _subscriptions(
    sim: Simulator,
    socket: web.WebSocketResponse,
    session: Session,
    op: str,
    args: Any,
    conn_id: str,
) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    added: list[Subscription] = []
    for arg in args if isinstance(args, list) else [args]:
        sub = _subscription(arg)
        if sub is None:
            answers.append(_error("60018", f"Wrong URL or channel:{json.dumps(arg)}", conn_id))
            continue
        shown = {k: v for k, v in sub.arg().items() if k != "uid"}
        answers.append({"event": op, "arg": shown, "connId": conn_id})
        if op == "subscribe":
            session.subscriptions.add(sub)
            added.append(sub)
        else:
            session.subscriptions.discard(sub)
    for answer in answers:
        await socket.send_json(answer)
    for sub in added:
        await sim.okx_hub.snapshot(socket, sub, sim.engine, sim.clock.now_ms())
    return []


def _subscription(arg: Any) -> Subscription | None:
    if not isinstance(arg, dict):
        return None
    channel, inst_type = arg.get("channel"), str(arg.get("instType", "ANY")).upper()
    if channel not in CHANNELS or inst_type not in CHANNELS[channel]:
        return None
    inst_id = arg.get("instId")
    return Subscription(str(channel), inst_type, str(inst_id) if inst_id else None)


def routes() -> list[web.RouteDef]:
    return [web.get("/ws/v5/private", private)]
