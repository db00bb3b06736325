"""WebSocket endpoints: the spot WebSocket API (`/ws-api/v3`, user-data subscription only)
and the USD-M listenKey stream (`/private/ws?listenKey=`, `/ws/{listenKey}`).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import WSMsgType, web

from setpoint.sim import auth
from setpoint.sim.errors import ApiError
from setpoint.sim.state import SIM, Simulator


async def ws_api(request: web.Request) -> web.WebSocketResponse:
    """Spot WebSocket API: `userDataStream.subscribe.signature`, `...unsubscribe`, `ping`."""
    sim = request.app[SIM]
    socket = web.WebSocketResponse(autoping=True)
    await socket.prepare(request)
    try:
        async for message in socket:
            if message.type is not WSMsgType.TEXT:
                continue
            answer = _ws_api_answer(sim, socket, message.data)
            if answer is not None:
                await socket.send_json(answer)
    finally:
        sim.hub.forget(socket)
    return socket


def _ws_api_answer(
    sim: Simulator, socket: web.WebSocketResponse, text: str
) -> dict[str, Any] | None:
    try:
        request = json.loads(text)
    except ValueError:
        return {"id": None, "status": 400, "error": {"code": -1102, "msg": "Malformed JSON."}}
    ident = request.get("id")
    method = request.get("method")
    params = request.get("params") or {}
    if method == "userDataStream.subscribe.signature":
        try:
            auth.verify_ws_params(params, sim.keys, sim.clock.now_ms())
        except ApiError as error:
            return {"id": ident, "status": error.status, "error": error.body()}
        subscription = sim.hub.subscribe_spot(socket)
        return {"id": ident, "status": 200, "result": {"subscriptionId": subscription}}
    if method == "userDataStream.unsubscribe":
        sim.hub.forget(socket)
        return {"id": ident, "status": 200, "result": {}}
    if method == "ping":
        return {"id": ident, "status": 200, "result": {}}
    return {
        "id": ident,
        "status": 400,
        "error": {"code": -1100, "msg": f"Unknown method '{method}'."},
    }


async def user_stream(request: web.Request) -> web.StreamResponse:
    """User-data stream of a live listen key (USD-M, or legacy spot); server -> client."""
    sim = request.app[SIM]
    key = request.query.get("listenKey") or request.match_info.get("listen_key", "")
    if not sim.hub.valid(key, sim.clock.now_ms()):
        raise ApiError(400, -1125, "This listenKey does not exist.")
    socket = web.WebSocketResponse(autoping=True)
    await socket.prepare(request)
    sim.hub.attach(socket, key)
    try:
        async for _message in socket:
            pass
    finally:
        sim.hub.forget(socket)
    return socket


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ws-api/v3", ws_api),
        web.get("/private/ws", user_stream),
        web.get("/ws/{listen_key}", user_stream),
    ]
