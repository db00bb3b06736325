"""The console's HTTP side (aiohttp): read-only JSON views, one server-sent event stream,
and the static page (`static/`, shipped in the wheel; plain JavaScript modules, nothing
fetched from elsewhere).

Routes (GET only; anything else is 405, an unknown path 404):

* `/` - the page; `/static/<file>` - its modules and style.
* `/api/overview` - `views.overview`.
* `/api/key?account=A&symbol=S` - one key: its overview row, ladder, recent fills and
  timeline (the key's records read from the log, the newest `KEY_RECORDS`).
* `/api/events?account=&symbol=&type=&limit=` - the newest records of the tail, filtered.
* `/api/explain?client_order_id=C` - `setpoint explain --json` of one order.
* `/api/stream` - server-sent events: `overview` first and on every change, `event` per
  record folded live.

Access: with a token configured (`console.token`), every request must carry it: the
`Authorization: Bearer <token>` header, the `setpoint_console` cookie, or `?token=` (which
sets the cookie, HttpOnly and SameSite=Strict, and redirects to the same page without it).
The token is compared in constant time and never written anywhere.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from setpoint.console.live import LiveState, Message, sse
from setpoint.console.views import event_row, ladder, timeline
from setpoint.core.model import Key
from setpoint.ops.explain import explain

__all__ = ["COOKIE", "KEY_RECORDS", "STATIC", "make_app"]

STATIC = Path(__file__).parent / "static"
COOKIE = "setpoint_console"
KEY_RECORDS = 400
FILLS = 50
HEARTBEAT_S = 15.0  # float-ok
STATE: web.AppKey[LiveState] = web.AppKey("state", LiveState)
TOKEN: web.AppKey[str | None] = web.AppKey("token", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def make_app(state: LiveState, token: str | None) -> web.Application:
    """The console's application over `state`; `token` None: no access check."""
    app = web.Application(middlewares=[_guard])
    app[STATE], app[TOKEN] = state, token
    app.router.add_get("/", _index)
    app.router.add_get("/api/overview", _overview)
    app.router.add_get("/api/key", _key)
    app.router.add_get("/api/events", _events)
    app.router.add_get("/api/explain", _explain)
    app.router.add_get("/api/stream", _stream)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    return app


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The token check (module docstring) and the security headers of every answer."""
    token = request.app[TOKEN]
    if token is not None:
        given = request.query.get("token")
        if given is not None and _same(given, token) and request.method == "GET":
            query = {k: v for k, v in request.query.items() if k != "token"}
            found = web.HTTPFound(request.rel_url.with_query(query))
            found.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
            raise found
        if not _authorised(request, token):
            raise web.HTTPUnauthorized(
                text="the console needs its token: open it as /?token=<console.token>\n",
                headers=_HEADERS,
            )
    response = await handler(request)
    response.headers.update(_HEADERS)
    return response


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def _authorised(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and _same(header[len("Bearer ") :], token):
        return True
    cookie = request.cookies.get(COOKIE)
    return cookie is not None and _same(cookie, token)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _bad(text: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=orjson.dumps({"error": text}).decode(), content_type="application/json"
    )


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def _overview(request: web.Request) -> web.Response:
    return _json(request.app[STATE].overview())


def _key_of(request: web.Request) -> Key:
    account, symbol = request.query.get("account"), request.query.get("symbol")
    if not account or not symbol:
        raise _bad("account and symbol are both required, e.g. ?account=demo&symbol=BTC/USDT")
    return Key(account, symbol)


async def _key(request: web.Request) -> web.Response:
    state = request.app[STATE]
    key = _key_of(request)
    records = (await state.log.read(key))[-KEY_RECORDS:]
    rows = [r for r in state.overview()["keys"] if (r["account"], r["symbol"]) == key]
    fills = [event_row(r) for r in records if r.event.type == "FillObserved"]
    return _json(
        {
            "account": key.account,
            "symbol": key.symbol,
            "status": rows[0] if rows else None,
            "ladder": ladder(key, state.intent, state.actual),
            "fills": fills[::-1][:FILLS],
            "timeline": timeline(records, state.conditions(key)),
        }
    )


async def _events(request: web.Request) -> web.Response:
    query = request.query
    try:
        limit = int(query.get("limit", "200"))
    except ValueError:
        raise _bad(f"limit must be a whole number, not {query.get('limit')!r}") from None
    if not 1 <= limit <= 2000:
        raise _bad("limit must be between 1 and 2000")
    wanted = {name: query[name] for name in ("account", "symbol", "type") if query.get(name)}

    def keep(row: dict[str, Any]) -> bool:
        return all(row[name] == value for name, value in wanted.items())

    return _json({"events": request.app[STATE].tail(keep, limit)})


async def _explain(request: web.Request) -> web.Response:
    coid = request.query.get("client_order_id", "").strip()
    if not coid:
        raise _bad("client_order_id is required, e.g. ?client_order_id=sp-...")
    return _json(await explain(request.app[STATE].log, coid, progress=False))


async def _stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events until the browser goes or the console stops (module docstring)."""
    state = request.app[STATE]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", **_HEADERS, "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    queue = state.listen()
    try:
        await response.write(b"retry: 1000\n\n" + sse(("overview", state.overview())))
        while True:
            try:
                message = await _next(queue)
            except TimeoutError:
                await response.write(b": heartbeat\n\n")
                continue
            if message is None:
                break
            await response.write(sse(message))
    except (ConnectionResetError, ConnectionError):
        pass  # the browser went away
    finally:
        state.forget(queue)
    return response


async def _next(queue: asyncio.Queue[Message]) -> Message:
    async with asyncio.timeout(HEARTBEAT_S):
        return await queue.get()
