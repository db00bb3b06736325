"""The differ service against a real nats-server and a JetStream log.

Target in → TargetPublished + DiffComputed out; bad targets rejected with nothing else
changed; the kill switch; health and status; two differs never both act; a restart
rebuilds from the log and does not decide again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import nats
import pytest
from differ_env import Env
from nats.aio.msg import Msg

from setpoint.bus import subjects
from setpoint.config import Settings
from setpoint.core.events import (
    AccountMode,
    AccountModeChanged,
    ActionKind,
    DiffComputed,
    ReconcileTrigger,
    ReconciliationCompleted,
    ReconciliationCompletedData,
    TargetPublished,
    TargetRejected,
)
from setpoint.core.model import Key, Producer
from setpoint.eventlog import ANY
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.ops import kill
from setpoint.ops.kill import send_kill

pytestmark = pytest.mark.nats


def target(env: Env, generation: int, on: str = "BTC/USDT", **changes: Any) -> bytes:
    body: dict[str, Any] = {
        "account": env.account,
        "symbol": on,
        "generation": generation,
        "strategy": "grid-1",
        "position": None,
        "expires_at": None,
        "orders": [
            {"id": "b1", "side": "buy", "type": "limit", "price": "60000.00", "quantity": "0.010"},
            {"id": "s1", "side": "sell", "type": "limit", "price": "61000.00", "quantity": "0.010"},
        ],
    }
    body.update(changes)
    return json.dumps(body).encode()


async def of_type(log: JetStreamEventLog, key: Key, kind: type) -> list[Any]:
    return [r.event for r in await log.read(key) if isinstance(r.event, kind)]


async def publish(
    env: Env, generation: int, on: str = "BTC/USDT", **changes: Any
) -> dict[str, Any]:
    """Publish on the subject of symbol `on` (also the body's symbol unless changed)."""
    subject = subjects.target_subject(env.account, on)
    return await env.request(subject, target(env, generation, on, **changes))


async def test_a_target_in_gives_target_published_and_diff_computed(env: Env) -> None:
    log = await env.open_log()
    await env.load_markets(log)
    await env.start_differ()
    key = env.key()

    assert await publish(env, 7) == {"accepted": True, "generation": 7}

    async def decided() -> bool:
        return len(await of_type(log, key, DiffComputed)) == 1

    await env.eventually(decided, "a DiffComputed for generation 7")
    [published] = await of_type(log, key, TargetPublished)
    [diff] = await of_type(log, key, DiffComputed)
    assert published.producer is Producer.INTAKE
    assert published.data.target.generation == 7
    assert diff.producer is Producer.DIFFER
    assert diff.correlation_id == published.event_id
    assert diff.causation_id == published.event_id
    assert diff.data.generation == 7
    assert diff.data.target_event_id == published.event_id
    assert {(a.kind, a.intent_id) for a in diff.data.actions} == {
        (ActionKind.PLACE, "b1"),
        (ActionKind.PLACE, "s1"),
    }
    assert not diff.data.converged


async def test_a_plain_publish_without_reply_is_handled(env: Env) -> None:
    log = await env.open_log()
    await env.load_markets(log)
    service = await env.start_differ()
    client = env.clients[0]
    await client.publish(subjects.target_subject(env.account, "BTC/USDT"), target(env, 3))

    async def published() -> bool:
        return service.view.intent.generation(env.key()) == 3

    await env.eventually(published, "the published target accepted")
    assert service.counters["accepted"] == 1


def _buy(price: str, quantity: str, id: str = "b") -> dict[str, str]:
    """One order of a target's `orders`, a buy."""
    return {"id": id, "side": "buy", "price": price, "quantity": quantity}


ONE_BAD_BUY = [
    ("60000.005", "0.01", ".price: 60000.005 is not a multiple of the tick 0.01"),
    ("-1", "0.01", ".price: -1 must be greater than 0"),
    ("60000", "0.000001", ".quantity: 0.000001 is not a multiple of the step 0.00001"),
    ("100", "0.001", ": notional 0.100 (price x quantity) is below the minimum notional 5"),
]
"""A target of one buy (price, quantity) refused by the market's filters: the error after
"orders[0]"."""
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("DOGE/USDT", {}, "symbol: unknown symbol 'DOGE/USDT'"),
    ("BTC/USDT", {"position": 0.5}, "position: 0.5 is a binary float"),
    ("BTC/USDT", {"position": "-x"}, "position: '-x' is not a decimal number"),
    *[
        ("BTC/USDT", {"orders": [_buy(price, quantity)]}, "orders[0]" + error)
        for price, quantity, error in ONE_BAD_BUY
    ],
    (
        "BTC/USDT",
        {"orders": [_buy("60000", "0.01")] * 2},
        "orders[1].id: duplicate intent id 'b'",
    ),
    (
        "BTC/USDT",
        {"orders": [_buy("60000", "0.01", id=f"b{i}") for i in range(6)]},
        "orders: 6 orders, more than max_orders_per_target 5",
    ),
    ("BTC/USDT", {"generation": 7}, "generation: 7 is stale"),
    ("BTC/USDT", {"generation": 3}, "generation: 3 is stale"),
    ("BTC/USDT", {"symbol": "ETH/USDT"}, "symbol: 'ETH/USDT' does not match the subject's symbol"),
    ("BTC/USDT", {"strategy": None}, "strategy: "),
]


async def test_bad_targets_are_rejected_and_change_nothing_else(env: Env) -> None:
    log = await env.open_log()
    await env.load_markets(log)
    service = await env.start_differ()
    key = env.key()
    assert (await publish(env, 7))["accepted"]
    await env.eventually(lambda: _has(log, key, DiffComputed), "the first decision", within=10)
    intent_before, head_before = service.view.intent.target(key), await log.head()

    for symbol, given, error in BAD:
        changes = dict(given)
        reply = await publish(env, changes.pop("generation", 8), symbol, **changes)
        assert reply["accepted"] is False
        assert reply["error"].startswith(error), (reply, error)
    subject = subjects.target_subject(env.account, "BTC/USDT")
    for raw, error in [(b"{nope", "body: invalid JSON"), (b'{"account": 1}', "account: ")]:
        reply = await env.request(subject, raw)
        assert reply["accepted"] is False
        assert reply["error"].startswith(error)

    rejected = await of_type(log, key, TargetRejected) + await of_type(
        log, env.key("DOGE/USDT"), TargetRejected
    )
    assert len(rejected) == len(BAD) + 2
    assert all(e.producer is Producer.INTAKE and e.correlation_id == e.event_id for e in rejected)
    assert len(await of_type(log, key, TargetPublished)) == 1
    assert len(await of_type(log, key, DiffComputed)) == 1
    assert await log.head() == head_before + len(BAD) + 2, "only the rejections were appended"
    await service.view.wait_for(await log.head())
    assert service.view.intent.target(key) == intent_before, "projections unchanged"


async def test_an_unknown_account_is_answered_counted_and_not_logged(env: Env) -> None:
    log = await env.open_log()
    service = await env.start_differ()
    head = await log.head()
    reply = await env.request(subjects.target_subject("stranger", "BTC/USDT"), b"{}")
    error = "account: unknown account 'stranger'"
    assert reply == {"accepted": False, "error": error, "errors": [error]}
    assert service.counters["unknown_account"] == 1
    assert await log.head() == head


async def test_without_markets_a_target_is_rejected_clearly(env: Env) -> None:
    log = await env.open_log()
    await env.start_differ()
    reply = await publish(env, 1)
    assert reply["accepted"] is False
    assert "not loaded yet" in reply["error"]
    assert len(await of_type(log, env.key(), TargetRejected)) == 1


async def test_kill_switch_appends_account_mode_changed(env: Env) -> None:
    log = await env.open_log()
    await env.start_differ()
    killed = await send_kill(env.url, env.account, False, "test", 10)
    assert killed["ok"] is True
    assert killed["mode"] == "liquidate_only"
    resumed = await send_kill(env.url, env.account, True, "", 10)
    assert resumed["mode"] == "normal"
    modes = await of_type(log, Key(env.account, None), AccountModeChanged)
    assert [e.data.mode for e in modes] == [AccountMode.LIQUIDATE_ONLY, AccountMode.NORMAL]
    assert all(e.producer is Producer.INTAKE for e in modes)
    refused = await send_kill(env.url, "stranger", False, "", 10)
    assert refused["ok"] is False


async def test_health_and_status_answer_once_ready(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    log = await env.open_log()
    await env.load_markets(log)
    caplog.set_level("INFO", logger="setpoint.differ")
    await env.start_differ()
    assert any("ready" in r.getMessage() for r in caplog.records)
    health = await env.request(subjects.health_subject("differ"), b"")
    assert health["service"] == "differ"
    assert health["ready"] is True
    # the contract's four fields, plus each task's state and the log position it holds
    assert set(health) == {"service", "ready", "version", "started_at", "tasks", "position"}
    assert health["tasks"]["log"] == "following"
    await publish(env, 1)
    await env.eventually(lambda: _has(log, env.key(), DiffComputed), "a decision")
    status = await env.request(subjects.STATUS_REQUEST, b"")
    [mine] = [s for s in status["keys"] if s["account"] == env.account]
    assert mine["symbol"] == "BTC/USDT"
    assert mine["generation"] == 1
    assert mine["condition"] == "drifting"
    assert "ActionsPlanned" in mine["reasons"]


async def test_two_differs_never_both_act(env: Env) -> None:
    log = await env.open_log()
    await env.load_markets(log)
    first = await env.start_differ("differ-a")
    second = await env.start_differ("differ-b")
    keys = [env.key("BTC/USDT"), env.key("ETH/USDT")]
    for generation in range(1, 6):
        for key in keys:
            orders = [
                {
                    "id": f"b{generation}",
                    "side": "buy",
                    "type": "limit",
                    "price": "2000.00",
                    "quantity": "0.0100",
                },
            ]
            assert (await publish(env, generation, key.symbol or "", orders=orders))["accepted"]

    async def all_decided() -> bool:
        for key in keys:
            diffs = await of_type(log, key, DiffComputed)
            if not diffs or diffs[-1].data.generation != 5:
                return False
        return True

    await env.eventually(all_decided, "both keys decided for generation 5")
    head = await log.head()
    await first.view.wait_for(head)
    await second.view.wait_for(head)
    await first.queue.settled()
    await second.queue.settled()
    for key in keys:
        diffs = await of_type(log, key, DiffComputed)
        plans = [(d.data.generation, d.data.actions) for d in diffs]
        assert len(plans) == len(set(plans)), f"a decision was recorded twice: {plans}"
        coids = [a.client_order_id for d in diffs for a in d.data.actions]
        assert all(later != earlier for later, earlier in zip(plans[1:], plans[:-1], strict=False))
        assert len(coids) >= 1
    print("lost races", first.counters, second.counters)


async def test_a_restart_rebuilds_and_does_not_decide_again(env: Env) -> None:
    log = await env.open_log()
    await env.load_markets(log)
    first = await env.start_differ()
    await publish(env, 4)
    await env.eventually(lambda: _has(log, env.key(), DiffComputed), "a decision")
    await first.queue.settled()
    await first.stop()
    head = await log.head()

    again = await env.start_differ("differ-restarted")
    assert again.view.position == head
    assert again.view.intent.generation(env.key()) == 4
    await again.queue.settled()
    assert await log.head() == head, "nothing was decided again"
    assert (await publish(env, 4))["error"].startswith("generation: 4 is stale")


async def _has(log: JetStreamEventLog, key: Key, kind: type) -> bool:
    return bool(await of_type(log, key, kind))


async def test_the_kill_command_line(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    differ = await env.start_differ()
    config = tmp_path / "setpoint.toml"
    config.write_text(f'[nats]\nurl = "{env.url}"\nembedded = false\n\n[accounts.{env.account}]\n')
    parser = argparse.ArgumentParser()
    kill.add_arguments(parser)

    async def run(*argv: str) -> int:
        return await asyncio.to_thread(kill.main, str(config), parser.parse_args(list(argv)))

    assert await run("--account", env.account) == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "liquidate_only"
    assert await run("--account", env.account, "--resume") == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "normal"
    assert await run("--account", "stranger") == 1
    await differ.stop()
    assert await run("--account", env.account, "--timeout", "1") == 2


async def test_key_status_is_published_on_change(env: Env) -> None:
    log = await env.open_log()
    await env.load_markets(log)
    await env.start_differ()
    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    watcher = await nats.connect(env.url)
    env.clients.append(watcher)

    async def on_status(msg: Msg) -> None:
        await seen.put(json.loads(msg.data))

    await watcher.subscribe(subjects.status_subject(env.account, "BTC/USDT"), cb=on_status)
    await watcher.flush()
    await publish(env, 2)
    status = await asyncio.wait_for(seen.get(), 10)
    assert status["account"] == env.account
    assert status["symbol"] == "BTC/USDT"
    assert status["generation"] == 2
    assert status["condition"] == "drifting"


async def test_the_trace_of_a_target_reaches_its_decision(env: Env) -> None:
    log = await env.open_log()
    await env.load_markets(log)
    await env.start_differ()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    client = await nats.connect(env.url)
    env.clients.append(client)
    await client.request(
        subjects.target_subject(env.account, "BTC/USDT"),
        target(env, 1),
        timeout=10,
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    await env.eventually(lambda: _has(log, env.key(), DiffComputed), "a decision")
    [published] = await of_type(log, env.key(), TargetPublished)
    [diff] = await of_type(log, env.key(), DiffComputed)
    assert trace_id in (published.traceparent or "")
    assert trace_id in (diff.traceparent or "")


async def _reconciled(log: JetStreamEventLog, key: Key, ok: bool = True) -> None:
    data = ReconciliationCompletedData(trigger=ReconcileTrigger.STARTUP, ok=ok)
    event = ReconciliationCompleted.create(key, Producer.GATEWAY, data)
    await log.append(key, Producer.GATEWAY, [event], ANY)


async def test_after_a_restart_a_key_is_unverified_until_a_reconciliation(env: Env) -> None:
    """The last run's reconciliation does not vouch for the venue after a restart (it may
    have restarted empty); the gateway's next one does. A reconciliation counts from the
    differ's start minus the account's interval: a tiny interval here, so that the one
    before the restart is too old."""
    env.settings = Settings(
        nats={"url": env.url, "embedded": False},  # type: ignore[arg-type]
        accounts={env.account: {"reconcile_interval_s": 0.001}},  # type: ignore[dict-item]
    )
    log = await env.open_log()
    await env.load_markets(log)
    first = await env.start_differ()
    await publish(env, 1)
    await first.queue.settled()
    assert first.status(env.key()).condition != "unverified"  # learnt live, after the start
    await _reconciled(log, env.key())
    await first.stop()

    again = await env.start_differ("differ-restarted")  # the old reconciliation is too old
    await again.queue.settled()
    status = again.status(env.key())
    assert (status.condition, status.reasons[0]) == ("unverified", "NotReconciled")
    await _reconciled(log, env.key(), ok=False)  # a failed one verifies nothing
    await env.eventually(lambda: _has_failed_recon(again, env.key()), "the failed one folded")
    assert again.status(env.key()).condition == "unverified"
    await _reconciled(log, env.key())

    async def verified() -> bool:
        return again.status(env.key()).condition != "unverified"

    await env.eventually(verified, "verified by the reconciliation after the restart")
    assert again.status(env.key()).last_reconciliation is not None


async def _has_failed_recon(differ: Any, key: Key) -> bool:
    last = differ.view.actual.last_reconciliation(key)
    return last is not None and not last.data.ok
