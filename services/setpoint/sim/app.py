"""Build the simulator's aiohttp application and run it in-process.

    server = SimServer(SimConfig(), port=0)   # port 0: a free port
    await server.start()
    server.base_url                           # "http://127.0.0.1:PORT"
    server.simulator.engine                   # the engine, for white-box tests
    await server.stop()

Middlewares, outermost first: Binance-shaped errors (ApiError, unknown path -> 404 JSON,
crash -> 500 -1000), fault injection (never on `/_sim`), control-API body errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from setpoint.config import SimConfig
from setpoint.sim import control, errors, rest, ws
from setpoint.sim.errors import ApiError
from setpoint.sim.faults import STREAM_KINDS, FaultKind, FaultRule
from setpoint.sim.state import SIM, Simulator

log = logging.getLogger("setpoint.sim")

Handler = Any


@web.middleware
async def binance_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """ApiError -> its answer; unknown path or method -> 404 with a Binance error body."""
    try:
        response: web.StreamResponse = await handler(request)
    except ApiError as error:
        return errors.response(error)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        body = {
            "code": -5000,
            "msg": f"Path {request.method} {request.path} is not served by the simulator.",
        }
        return web.json_response(body, status=404)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("simulator crashed on %s %s", request.method, request.path)
        body = {"code": -1000, "msg": "An unknown error occurred while processing the request."}
        return web.json_response(body, status=500)
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
        return web.json_response(errors.RATE_LIMIT.body(), status=429, headers={"Retry-After": "1"})
    elif kind in STREAM_KINDS:
        await _stream_fault(sim, kind)
    else:
        return await _after_accept(rule, request, handler)
    response: web.StreamResponse = await handler(request)
    return response


async def _stream_fault(sim: Simulator, kind: FaultKind) -> None:
    if kind is FaultKind.WS_DROP:
        await sim.hub.drop_all()
    else:
        await sim.hub.expire_all(sim.clock.now_ms())


async def _after_accept(
    rule: FaultRule, request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Process the request for real, then lose the answer the way the rule says."""
    with contextlib.suppress(ApiError):  # refused anyway; the client still learns nothing
        await handler(request)
    if rule.kind is FaultKind.STATUS_UNKNOWN_AFTER_ACCEPT:
        return errors.response(errors.STATUS_UNKNOWN)
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
    app = web.Application(middlewares=[binance_errors, inject_faults, control.bad_body])
    app[SIM] = Simulator(config)
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
