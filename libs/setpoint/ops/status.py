"""`setpoint status [--json] [--timeout S]`: the live per-key view of the running system.

Asks the running services over NATS (the configured `nats.url`; this command never starts
a server):

* `setpoint.status.request` - the differ answers `{"keys": [KeyStatus, ...]}`;
* `setpoint.health.<service>` for each of `SERVICES` - `Health` once the service is ready.

Exit status: 0 when every service answered ready and the differ gave the key status;
1 when some answered but not all (or one is not ready); 3 when nothing answered (no
server at the url, or no Setpoint service on it), with a message saying so.

`--json` prints `{"nats": url, "services": [{"service", "answered", "ready", "version",
"started_at"}], "keys": [KeyStatus...] | null, "portfolio": [account...] | null}` (`keys`
and `portfolio` null when the differ did not answer). Each portfolio account is
`{"account", "realized_pnl", "unrealized_pnl", "equity", "peak_equity", "drawdown", "fees",
"margin_balance", "maintenance_margin", "available_margin", "margin_ratio", "updated_at",
"keys": [{"symbol", "position", "entry_price", "mark", "realized_pnl", "unrealized_pnl",
"equity", "peak_equity", "drawdown", "fees"}]}`, amounts as decimal strings (the margin
fields null until the gateway has observed a futures wallet).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from setpoint.bus.credentials import operator_options
from setpoint.bus.messages import Health, KeyStatus
from setpoint.bus.subjects import STATUS_REQUEST, health_subject
from setpoint.config import load_settings
from setpoint.core.errors import NoConnection as NoConnection
from setpoint.core.numeric import strict_decimal
from setpoint.ops import output
from setpoint.ops.exits import FAILED, OK, exit_status
from setpoint.ops.exits import NOTHING_ANSWERED as NOTHING_ANSWERED
from setpoint.ops.logread import print_json

SERVICES = ("differ", "executor", "gateway", "strategy")
START_HINT = "nothing is running: start the whole system with `setpoint up`"
"""Printed after the one-line error when no NATS server listens at `nats.url`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds to wait per answer")


def main(config: str | None, args: argparse.Namespace) -> int:
    settings = load_settings(config)
    url = settings.nats.url
    try:
        body = asyncio.run(collect(url, args.timeout, **operator_options(settings.nats)))
    except NoConnection as exc:
        print(f"setpoint status: {exc}", file=sys.stderr)
        print(f"setpoint status: {START_HINT}", file=sys.stderr)
        return exit_status(exc)
    code = exit_code(body)
    if args.json:
        print_json(body)
    else:
        render(body)
    if code == NOTHING_ANSWERED:
        print(
            f"setpoint status: no Setpoint service answered on {url} "
            "(is `setpoint up` or `setpoint run ...` running against this server?)",
            file=sys.stderr,
        )
    return code


async def collect(url: str, wait_s: float = 1.0, **options: Any) -> dict[str, Any]:  # float-ok
    """Ask every service at once; unanswered ones are reported as such."""
    import nats

    from setpoint.bus.embedded import answers

    if not answers(url, wait_s):
        raise NoConnection(f"cannot connect to NATS at {url}: nothing listens there")
    try:
        nc = await asyncio.wait_for(
            nats.connect(
                url.split(","),  # every server of a cluster
                allow_reconnect=False,
                error_cb=_quiet,
                name="setpoint-status",
                **options,
            ),
            wait_s + 1,
        )
    except (TimeoutError, Exception) as exc:
        raise NoConnection(f"cannot connect to NATS at {url} ({type(exc).__name__})") from None
    try:
        return await ask(nc, url, wait_s)
    finally:
        await nc.close()


async def ask(nc: Any, url: str, wait_s: float = 1.0) -> dict[str, Any]:  # float-ok
    """The body of `collect` over a connection the caller holds (the web console asks
    on its own): every service at once, each within `wait_s`."""
    keys, *healths = await asyncio.gather(
        _request(nc, STATUS_REQUEST, wait_s),
        *(_request(nc, health_subject(s), wait_s) for s in SERVICES),
    )
    return {
        "nats": url,
        "services": [_health(s, raw) for s, raw in zip(SERVICES, healths, strict=True)],
        "keys": _keys(keys),
        "portfolio": _portfolio(keys),
    }


async def _quiet(exc: Exception) -> None:
    """nats-py prints every connection error with a traceback by default; we report one
    line instead (NoConnection)."""


async def _request(nc: Any, subject: str, wait_s: float) -> bytes | None:  # float-ok
    """The answer's bytes, or None when nobody answered in time."""
    from nats.errors import NoRespondersError
    from nats.errors import TimeoutError as NatsTimeout

    try:
        reply = await nc.request(subject, b"", timeout=wait_s)
    except (TimeoutError, NoRespondersError, NatsTimeout):
        return None
    data: bytes = reply.data
    return data


def _health(service: str, raw: bytes | None) -> dict[str, Any]:
    silent = {
        "service": service,
        "answered": False,
        "ready": False,
        "version": None,
        "started_at": None,
    }
    if raw is None:
        return silent
    try:
        health = Health.model_validate_json(raw, strict=False)
    except ValidationError:
        return silent | {"answered": True, "error": "unreadable health answer"}
    return {"service": service, "answered": True} | health.model_dump(
        mode="json", exclude={"service"}
    )


def _keys(raw: bytes | None) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    try:
        keys = orjson.loads(raw)["keys"]
        statuses = [KeyStatus.model_validate(k, strict=False) for k in keys]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValidationError):
        return None
    return [s.model_dump(mode="json") for s in statuses]


def _portfolio(raw: bytes | None) -> list[dict[str, Any]] | None:
    """The differ's portfolio (a list of accounts), None when absent or unreadable."""
    if raw is None:
        return None
    try:
        found = orjson.loads(raw).get("portfolio")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return found if isinstance(found, list) else None


def exit_code(body: dict[str, Any]) -> int:
    """0 all answered and ready; 1 some did; 3 none did (module docstring)."""
    answered = [s for s in body["services"] if s["answered"]]
    if not answered and body["keys"] is None:
        return NOTHING_ANSWERED
    if body["keys"] is None or any(not s["ready"] for s in body["services"]):
        return FAILED
    return OK


def render(body: dict[str, Any], console: Console | None = None) -> None:
    """Services, then one line per key."""
    out = console or output.console()
    services = Table(
        "service", "ready", "version", "started at", "tasks", title=f"NATS {body['nats']}"
    )
    for s in body["services"]:
        ready = (
            "[green]ready[/green]"
            if s["ready"]
            else ("[yellow]not ready[/yellow]" if s["answered"] else "[red]no answer[/red]")
        )
        troubles = [f"{n}: {t}" for n, t in (s.get("tasks") or {}).items() if t != "following"]
        services.add_row(
            s["service"], ready, s["version"] or "-", s["started_at"] or "-",
            "; ".join(troubles) or "-",
        )  # fmt: skip
    out.print(output.whole(services))
    if body["keys"] is None:
        out.print("[red]the differ did not answer: no per-key status[/red]")
        return
    out.print(output.whole(_keys_table(body["keys"])))
    if body.get("portfolio"):
        out.print(output.whole(_portfolio_table(body["portfolio"])))


def _keys_table(keys: list[dict[str, Any]]) -> Table:
    table = Table(
        "account",
        "symbol",
        "gen",
        "condition",
        "reasons",
        "orders target/venue",
        "position target/actual",
        "last reconciliation",
        title="keys",
    )
    for k in keys:
        step = None if k.get("step") is None else strict_decimal(k["step"])
        positions = (output.decimal(k[f"position_{p}"], step) for p in ("target", "actual"))
        table.add_row(
            k["account"],
            k["symbol"],
            str(k["generation"] or "-"),
            output.condition(k["condition"]),
            ", ".join(k["reasons"]) or "-",
            f"{k['open_orders_target']}/{k['open_orders_venue']}",
            "/".join(positions),
            k["last_reconciliation"] or "-",
        )
    return table


def _portfolio_table(accounts: list[dict[str, Any]]) -> Table:
    """One line per account, then one per key of it (PnL figures; the margin columns for
    the account only)."""
    table = Table(
        "account", "symbol", "realised", "unrealised", "equity", "peak", "drawdown",
        "margin ratio", "available margin", title="portfolio",
    )  # fmt: skip
    for a in accounts:
        table.add_row(
            a["account"], "*", a["realized_pnl"], a["unrealized_pnl"], a["equity"],
            a["peak_equity"], a["drawdown"], a["margin_ratio"] or "-",
            a["available_margin"] or "-",
        )  # fmt: skip
        for k in a.get("keys") or ():
            table.add_row(
                "", k["symbol"], k["realized_pnl"], k["unrealized_pnl"], k["equity"],
                k["peak_equity"], k["drawdown"], "", "",
            )  # fmt: skip
    return table
