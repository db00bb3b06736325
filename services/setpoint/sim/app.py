"""Build the simulator's aiohttp application and run it in-process.

    server = SimServer(SimConfig(), port=0)   # port 0: a free port
    await server.start()
    server.base_url                           # "http://127.0.0.1:PORT"
    server.simulator.engine                   # the engine, for white-box tests
    await server.stop()

Middlewares, outermost first: errors in the dialect's shape (ApiError, unknown path -> 404
JSON, crash -> 500: Binance -5000 / -1000, OKX 50000 / 50026), fault injection (never on
`/_sim`), control-API body errors. `config.dialect` chooses the venue API served
(`binance`: `rest`, `ws`; `okx`: `okx_rest`, `okx_ws`); the engine, the control API and the
fault rules are the same for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from setpoint.config import SimConfig
from setpoint.sim import control, errors, okx_errors, okx_rest, okx_ws, rest, weights, ws
from setpoint.sim.errors import ApiError
from setpoint.sim.faults import STREAM_KINDS, FaultKind, FaultRule
from setpoint.sim.state import SIM, Simulator

log = logging.getLogger("setpoint.sim")

Handler = Any


def _okx(request: web.Request) -> bool:
    return request.app[SIM].config.dialect == "okx"


def _not_served(request: web.Request) -> ApiError:
    msg = f"Path {request.method} {request.path} is not served by the simulator."
    if _okx(request):
        return okx_errors.OkxError(okx_errors.NOT_SERVED, msg, 404)
    return ApiError(404, -5000, msg)


def _crashed(request: web.Request) -> ApiError:
    if _okx(request):
        return okx_errors.CRASHED
    return ApiError(500, -1000, "An unknown error occurred while processing the request.")


@web.middleware
async def venue_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """ApiError -> its answer; unknown path or method -> 404 with the dialect's error body;
    a crash -> 500 with the dialect's internal-error body."""
    try:
        response: web.StreamResponse = await handler(request)
    except ApiError as error:
        return errors.response(error)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return errors.response(_not_served(request))
    except web.HTTPException:
        raise
    except Exception:
        log.exception("simulator crashed on %s %s", request.method, request.path)
        return errors.response(_crashed(request))
    return response


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the first fault rule that fires for this request (see `faults`)."""
    if request.path.startswith("/_sim"):
        response: web.StreamResponse = await handler(request)
        return response
    sim = request.app[SIM]
    rule = sim.faults.take(request.method, request.path)
    if rule is None:
        response = await handler(request)
        return response
    return await _apply(sim, rule, request, handler)


async def _apply(
    sim: Simulator, rule: FaultRule, request: web.Request, handler: Handler
) -> web.StreamResponse:
    kind = rule.kind
    if kind is FaultKind.DELAY:
        await asyncio.sleep(rule.delay_s)
    elif kind is FaultKind.HTTP_500:
        return web.Response(status=500, text="Internal Server Error")
    elif kind is FaultKind.HTTP_503:
        return web.Response(status=503, text="Service Unavailable")
    elif kind is FaultKind.RATE_LIMIT_429:
        limited = okx_errors.RATE_LIMIT if _okx(request) else errors.RATE_LIMIT
        return web.json_response(limited.body(), status=429, headers={"Retry-After": "1"})
    elif kind in STREAM_KINDS:
        await _stream_fault(sim, kind)
    else:
        return await _after_accept(rule, request, handler)
    response: web.StreamResponse = await handler(request)
    return response


async def _stream_fault(sim: Simulator, kind: FaultKind) -> None:
    if kind is FaultKind.WS_DROP:
        await sim.drop_streams()
    else:
        await sim.expire_streams()


async def _after_accept(
    rule: FaultRule, request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Process the request for real, then lose the answer the way the rule says."""
    with contextlib.suppress(ApiError):  # refused anyway; the client still learns nothing
        await handler(request)
    if rule.kind is FaultKind.STATUS_UNKNOWN_AFTER_ACCEPT:
        unknown = okx_errors.STATUS_UNKNOWN if _okx(request) else errors.STATUS_UNKNOWN
        return errors.response(unknown)
    if rule.kind is FaultKind.TIMEOUT_AFTER_ACCEPT:
        await _hold(request, rule.delay_s)
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)  # never written: the connection is gone


async def _hold(request: web.Request, seconds: float) -> None:  # float-ok
    """Wait `seconds`, or less if the client hangs up first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(min(0.05, deadline - loop.time()))


def build_app(config: SimConfig) -> web.Application:
    """The aiohttp application of one simulator (its state at `app[SIM]`)."""
    middlewares = [venue_errors, weights.count_weights, inject_faults, control.bad_body]
    app = web.Application(middlewares=middlewares)
    app[SIM] = Simulator(config)
    weights.install(app)
    if config.dialect == "okx":
        app.add_routes(okx_rest.routes())
        app.add_routes(okx_ws.routes())
    else:
        app.add_routes(rest.routes())
        app.add_routes(ws.routes())
    app.add_routes(control.routes())
    return app


class SimServer:
    """The simulator served on `host:port` inside the running event loop."""

    def __init__(self, config: SimConfig, host: str | None = None, port: int | None = None) -> None:
        self.config = config
        self.host = host or config.host
        self.port = config.port if port is None else port
        self.app = build_app(config)
        self._runner: web.AppRunner | None = None

    @property
    def simulator(self) -> Simulator:
        return self.app[SIM]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen; with port 0 a free port is chosen and `self.port` updated."""
        runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        for address in runner.addresses:
            if isinstance(address, tuple):
                self.port = int(address[1])
                break
        self.simulator.start_background()

    async def stop(self) -> None:
        await self.simulator.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
