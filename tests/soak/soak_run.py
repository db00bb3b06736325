"""One fault soak: a seeded random walk of targets and market moves with faults in between,
on the whole system (`tests/e2e/system.py`), then the checks of `soak_checks`.

`await soak(root, seed, faults)` returns the summary (a dict; `summary_line` prints it in
one line). Every choice comes from `random.Random(seed)` (`soak_walk`, `soak_faults`); every
step is written to `<root>/journal.jsonl` before it is carried out. The run:

1. `faults` times: one to three walk steps (a target change of one key, a price move, a
   forced fill, book depth), then one fault; `must` names fault kinds that are drawn first
   at random places (the short soak's restarts).
2. Faults cleared, every service started and waiting until it is quiet and healthy (every
   health `ready: true`, every task `following`, for two reconcile intervals in a row).
3. Book depth removed, final targets published (fresh resting intents on every key, no
   position, no expiry); the time until the venue's open orders of ours are exactly those
   targets is `converged_in`, which must be within two reconcile intervals, and they must
   still be after two more.
4. The checks from outside (`soak_checks`).
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
import time
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

import soak_checks as checks
from soak_faults import KILLABLE, draw_fault
from soak_walk import MARKETS, Walk
from system import ACCOUNT, ACCOUNT_SETTINGS, System, eventually

from setpoint.bus import subjects
from setpoint.core.ids import account_prefix, client_order_id, intent_hash

RECONCILE_S = float(ACCOUNT_SETTINGS["reconcile_interval_s"])  # type: ignore[arg-type]  # float-ok
SYMBOLS = [m.symbol for m in MARKETS]
STEP = {m.symbol: m.step for m in MARKETS}
HELD_ANSWER_S = 3.5  # float-ok: the longest answer a fault holds (timeout_after_accept)


class Journal:
    """Every injected step, one JSON object a line, flushed as it is written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path.open("w")
        self.start = time.monotonic()
        self.n = 0

    def step(self, step: dict[str, Any]) -> int:
        self.n += 1
        self.write({"n": self.n, "t": round(time.monotonic() - self.start, 3), **step})
        return self.n

    def note(self, n: int, **outcome: Any) -> None:
        self.write({"n": n, "t": round(time.monotonic() - self.start, 3), **outcome})

    def write(self, entry: dict[str, Any]) -> None:
        """`at` (wall clock, UTC) matches the services' log lines and `occurred_at`."""
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.file.write(json.dumps({**entry, "at": at}, default=str) + "\n")
        self.file.flush()


class Soak:
    """The walk and the faults carried out on one running `System`."""

    def __init__(self, system: System, seed: int, journal: Journal) -> None:
        self.system = system
        self.rng = random.Random(seed)
        self.walk = Walk(self.rng)
        self.journal = journal
        self.counts: dict[str, int] = {}
        self.targets = self.rejected = 0
        self.zombies: set[str] = set()

    def count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    # ------------------------------------------------------------------ the walk

    async def run(self, faults: int, must: tuple[str, ...] = ()) -> None:
        forced = dict(zip(self.rng.sample(range(faults), len(must)), must, strict=True))
        for i in range(faults):
            for _ in range(self.rng.randint(1, 3)):
                step = (
                    self.walk.target_step() if self.rng.random() < 0.5 else self.walk.market_step()
                )
                await self.carry_out(step)
                await asyncio.sleep(round(self.rng.uniform(0.0, 0.3), 3))
            fault = draw_fault(self.rng, self.walk, forced.get(i))
            self.count(fault["kind"])
            await self.carry_out({"fault": i + 1, **fault})

    async def carry_out(self, step: dict[str, Any]) -> None:
        self.restart_exited()
        n = self.journal.step(step)
        handler = getattr(self, f"do_{step['kind']}")
        outcome = await handler(step)
        if outcome:
            self.journal.note(n, outcome=outcome)

    def restart_exited(self) -> None:
        """A service that ended by itself is started again, as `setpoint up` does."""
        for service in KILLABLE:
            process = self.system.processes.get(service)
            if process is not None and process.poll() is not None:
                self.count(f"exited_{service}")
                self.journal.step({"kind": "exited", "service": service,
                                   "status": process.returncode})  # fmt: skip
                self.system.processes.pop(service)
                self.system.spawn(service)

    async def do_target(self, step: dict[str, Any]) -> Any:
        return await self.publish(step["symbol"])

    async def do_price(self, step: dict[str, Any]) -> Any:
        return await self.sim(
            "POST", "/_sim/price", {"symbol": step["symbol"], "price": step["price"]}
        )

    async def do_liquidity(self, step: dict[str, Any]) -> Any:
        answers = []
        for side, levels in step["levels"].items():
            body = {"symbol": step["symbol"], "side": side, "levels": levels}
            answers.append(await self.sim("POST", "/_sim/liquidity", body))
        return answers if any(answers) else None

    async def do_fill(self, step: dict[str, Any]) -> Any:
        live = await self.picked(step["symbol"], step["pick"])
        if live is None:
            return "no live order"
        outcome = await self.fill(live, step["fraction"])
        return outcome or {"filled": live["client_order_id"]}

    # ------------------------------------------------------------------ faults

    async def do_venue(self, step: dict[str, Any]) -> Any:
        rule = {"kind": step["rule"], "method": step["method"], "path": step["path"]}
        rule |= {k: step[k] for k in ("count", "delay_ms", "probability") if k in step}
        body: dict[str, Any] = {"rules": [rule]}
        if "seed" in step:
            body["seed"] = step["seed"]
        return await self.sim("POST", "/_sim/faults", body)

    async def do_ws_drop(self, step: dict[str, Any]) -> Any:
        return await self.sim("POST", "/_sim/faults", {"rules": [{"kind": "ws_drop", "count": 1}]})

    async def do_listen_key_expire(self, step: dict[str, Any]) -> Any:
        rule = {"kind": "listen_key_expire", "count": 1}
        return await self.sim("POST", "/_sim/faults", {"rules": [rule]})

    async def do_fill_race(self, step: dict[str, Any]) -> Any:
        if step["intent"] is None:
            return "no intent"
        live = await self.live_order(step["symbol"], step["intent"])

        async def fill_soon() -> Any:
            await asyncio.sleep(step["delay_s"])
            return await self.fill(live, step["fraction"]) if live else "no live order"

        return await asyncio.gather(self.publish(step["symbol"]), fill_soon())

    async def do_venue_cancel(self, step: dict[str, Any]) -> Any:
        live = await self.picked(step["symbol"], step["pick"])
        if live is None:
            return "no live order"
        body = {"client_order_id": live["client_order_id"], "status": step["status"]}
        return await self.sim("POST", "/_sim/cancel", body) or {"cancelled": body}

    async def do_foreign(self, step: dict[str, Any]) -> Any:
        return await self.resting(step, f"hand-{step['tag']}")

    async def do_zombie(self, step: dict[str, Any]) -> Any:
        coid = client_order_id(ACCOUNT, step["symbol"], f"z{step['tag']}", 1)
        self.zombies.add(coid)  # never filled by the soak: the log never held it
        return await self.resting(step, coid)

    async def do_kill(self, step: dict[str, Any]) -> Any:
        service = step["service"]
        await asyncio.to_thread(self.system.kill, service)
        await asyncio.sleep(step["pause_s"])
        self.system.spawn(service)
        return None

    async def do_nats_sigterm(self, step: dict[str, Any]) -> Any:
        await self.system.restart_server(signal.SIGTERM, step["pause_s"])

    async def do_nats_sigkill(self, step: dict[str, Any]) -> Any:
        await self.system.restart_server(signal.SIGKILL, step["pause_s"])

    # ------------------------------------------------------------------ means

    async def publish(self, symbol: str, within: float = 60.0) -> Any:  # float-ok
        """The key's current plan as the next generation; a request that gets no answer
        (no server, no differ) is sent again under a newer generation."""
        system = self.system
        assert system.nc is not None
        deadline, tries = time.monotonic() + within, 0
        while True:
            tries += 1
            system.generation += 1
            body = {"account": ACCOUNT, "symbol": symbol, "generation": system.generation,
                    "strategy": "soak", **self.walk.keys[symbol].body()}  # fmt: skip
            try:
                reply = await system.nc.request(
                    subjects.target_subject(ACCOUNT, symbol), json.dumps(body).encode(), timeout=5
                )
                answer = json.loads(reply.data)
                break
            except Exception as error:  # the server or the differ is away: try again
                if time.monotonic() > deadline:
                    raise AssertionError(f"no answer to a target of {symbol}: {error!r}") from None
                await asyncio.sleep(0.3)
        self.targets += bool(answer.get("accepted"))
        self.rejected += not answer.get("accepted")
        return None if tries == 1 and answer.get("accepted") else {"tries": tries, **answer}

    async def sim(self, method: str, path: str, body: Any = None) -> Any:
        """A control call; its answer when refused (status, body), else None."""
        assert self.system.http is not None
        async with self.system.http.request(method, self.system.base_url + path, json=body) as r:
            return None if r.status == 200 else {"status": r.status, "body": await r.text()}

    async def live_order(self, symbol: str, intent: str) -> dict[str, Any] | None:
        prefix = f"{account_prefix(ACCOUNT)}{intent_hash(symbol, intent)}-"
        for o in await self.system.open_orders(symbol):
            if (o["client_order_id"] or "").startswith(prefix):
                return o
        return None

    async def picked(self, symbol: str, pick: float) -> dict[str, Any] | None:  # float-ok
        """The live order of ours at rank `pick` (0 to 1) of the key's, by client id."""
        live = sorted(
            (
                o
                for o in await self.system.open_orders(symbol)
                if checks.ours(o["client_order_id"]) and o["client_order_id"] not in self.zombies
            ),
            key=lambda o: str(o["client_order_id"]),
        )
        return live[min(int(pick * len(live)), len(live) - 1)] if live else None

    async def fill(self, order: dict[str, Any], fraction: float) -> Any:  # float-ok
        body: dict[str, Any] = {"client_order_id": order["client_order_id"]}
        if fraction < 1:
            rest = Decimal(order["quantity"]) - Decimal(order["filled"])
            step = STEP[order["symbol"]]
            part = (rest * Decimal(str(fraction)) / step).to_integral_value(ROUND_DOWN) * step
            body["quantity"] = str(max(part, step))
        return await self.sim("POST", "/_sim/fill", body)

    async def resting(self, step: dict[str, Any], coid: str) -> Any:
        body = {k: step[k] for k in ("symbol", "side", "price", "quantity")}
        return await self.sim(
            "POST", "/_sim/orders", {**body, "type": "limit", "client_order_id": coid}
        )


# ---------------------------------------------------------------------- the end of a soak


async def healthy(system: System) -> bool:
    return not (await checks.health(system, KILLABLE))["problems"]


async def settle(soak: Soak, within: float = 180.0) -> float:  # float-ok
    """Faults cleared, every service up, then healthy for two reconcile intervals in a row;
    returns the seconds it took."""
    system = soak.system
    began = time.monotonic()
    await system.control("DELETE", "/_sim/faults")
    soak.restart_exited()
    for service in KILLABLE:
        await system.wait_ready(service, within)
    await asyncio.sleep(HELD_ANSWER_S)
    since: float | None = None  # float-ok
    deadline = began + within
    while time.monotonic() < deadline:
        if await healthy(system):
            since = since or time.monotonic()
            if time.monotonic() - since >= 2 * RECONCILE_S:
                return time.monotonic() - began
        else:
            since = None
        await asyncio.sleep(0.2)
    raise AssertionError(
        f"not quiet and healthy within {within}s: {await checks.health(system, KILLABLE)}"
    )


def converged(state: dict[str, Any], finals: dict[str, dict[str, Any]]) -> bool:
    """The venue's open orders of ours are exactly one per final intent, as asked."""
    for symbol, target in finals.items():
        live = [o for o in state["orders"]
                if o["symbol"] == symbol and o["status"] in checks.OPEN
                and checks.ours(o["client_order_id"])]  # fmt: skip
        wanted = {
            f"{account_prefix(ACCOUNT)}{intent_hash(symbol, o['id'])}-":
            (o["side"], Decimal(o["price"]), Decimal(o["quantity"]))
            for o in target["orders"]
        }  # fmt: skip
        seen = {}
        for o in live:
            prefix = o["client_order_id"].rsplit("-", 1)[0] + "-"
            if prefix in seen:
                return False
            seen[prefix] = (o["side"], Decimal(o["price"]), Decimal(o["quantity"]))
        if seen != wanted:
            return False
    return True


async def finish(soak: Soak) -> dict[str, Any]:
    """Steps 2 and 3 of the module docstring; returns settled_in and converged_in."""
    system = soak.system
    settled_in = await settle(soak)
    for symbol in SYMBOLS:
        for side in ("buy", "sell"):
            await system.control(
                "POST", "/_sim/liquidity", {"symbol": symbol, "side": side, "levels": []}
            )
    finals = soak.walk.final_targets()
    soak.journal.step({"kind": "final", "targets": finals})
    for symbol in SYMBOLS:
        await soak.publish(symbol)
    published = time.monotonic()

    async def done() -> bool:
        return converged(await system.venue(), finals)

    await eventually(done, 120, "convergence to the final targets")
    converged_in = time.monotonic() - published
    await asyncio.sleep(2 * RECONCILE_S)
    stays = converged(await system.venue(), finals)
    return {"settled_in": round(settled_in, 1), "converged_in": round(converged_in, 2),
            "still_converged": stays}  # fmt: skip


async def inspect(system: System) -> dict[str, Any]:
    """Step 4: every check of `soak_checks`, their counts and problems merged."""
    state = await system.venue()
    logged = [f for s in SYMBOLS for f in await system.events(s, "FillObserved")]
    parts = [
        checks.venue_orders(state),
        checks.fills(state, logged),
        await checks.audit(system),
        await checks.replay(system, state, SYMBOLS),
        await checks.health(system, KILLABLE),
        checks.tracebacks(system),
    ]
    merged: dict[str, Any] = {"problems": []}
    for part in parts:
        merged["problems"] += part.pop("problems")
        merged |= part
    return merged


async def soak(root: Path, seed: int, faults: int, must: tuple[str, ...] = ()) -> dict[str, Any]:
    """One soak in `root` (module docstring); the summary, with `problems` (empty: passed)."""
    journal = Journal(root / "journal.jsonl")
    (root / "system").mkdir(exist_ok=True)
    system = System(root / "system")
    began = time.monotonic()
    summary: dict[str, Any] = {"seed": seed, "faults": faults, "journal": str(journal.path)}
    try:
        await system.up()
        run = Soak(system, seed, journal)
        await run.run(faults, must)
        summary |= {"by_kind": dict(sorted(run.counts.items()))}
        summary |= await finish(run)
        summary |= {"targets": run.targets, "rejected": run.rejected}
        summary |= await inspect(system)
        if summary["converged_in"] > 2 * RECONCILE_S or not summary["still_converged"]:
            summary["problems"].append(
                f"converged in {summary['converged_in']}s (more than two reconcile intervals)"
                if summary["still_converged"]
                else "the final targets did not stay converged"
            )
    except Exception as error:
        summary.setdefault("problems", []).append(f"soak stopped: {error!r}")
    finally:
        await system.down()
        summary["seconds"] = round(time.monotonic() - began, 1)
        journal.file.close()
    return summary


def summary_line(summary: dict[str, Any]) -> str:
    """`soak seed=7 faults=512 (nats_sigkill=12 ...) targets=... audit=clean converged_in=1.8s`."""
    kinds = " ".join(f"{k}={v}" for k, v in summary.get("by_kind", {}).items())
    fields = ["targets", "rejected", "orders", "fills", "duplicates", "overlaps", "lost_fills",
              "double_fills", "phantom_fills", "inferred", "audit", "replay", "health",
              "tracebacks"]  # fmt: skip
    parts = [f"{f}={summary[f]}" for f in fields if f in summary]
    if "converged_in" in summary:
        parts.append(f"converged_in={summary['converged_in']}s")
    verdict = (
        "ok" if not summary.get("problems") else f"FAILED ({len(summary['problems'])} problems)"
    )
    return (f"soak seed={summary['seed']} faults={summary['faults']} ({kinds}) "
            f"{' '.join(parts)} {verdict}")  # fmt: skip
