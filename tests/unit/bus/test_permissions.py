"""The permission policy as pure logic: who may publish and subscribe to what.

`matches` is NATS' subject matching (`*` one token, `>` one or more at the end), so each
scenario asks the question the server will answer: may this identity publish here?
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from setpoint.bus.credentials import parse_seed
from setpoint.bus.permissions import (
    Grants,
    Identity,
    Kind,
    Layout,
    ServerTls,
    grants,
    inbox_prefix,
    render_server_config,
)
from setpoint.core.errors import ConfigError
from setpoint.ops.security import new_seed, public_key

STREAM_ADMIN = ("CREATE", "UPDATE", "DELETE", "PURGE")
TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching of a permission `pattern` against a concrete `subject`."""
    want, have = pattern.split("."), subject.split(".")
    for index, token in enumerate(want):
        if token == ">":
            return len(have) > index
        if index >= len(have) or (token != "*" and token != have[index]):
            return False
    return len(want) == len(have)


def may_publish(found: Grants | None, subject: str) -> bool:
    return found is None or any(matches(p, subject) for p in found.publish)


def may_subscribe(found: Grants | None, subject: str) -> bool:
    return found is None or any(matches(p, subject) for p in found.subscribe)


def identity(kind: Kind, *accounts: str, name: str | None = None) -> Identity:
    return Identity(name or kind.value, kind, public_key(new_seed()), accounts)


ALL = [identity(kind) for kind in Kind if kind is not Kind.STRATEGY]
STRATEGY = identity(Kind.STRATEGY, "acct-a", "acct-b", name="alpha")


def test_matching_is_nats_matching() -> None:
    assert matches("a.*.c", "a.b.c")
    assert not matches("a.*.c", "a.b.d")
    assert matches("a.>", "a.b.c")
    assert not matches("a.>", "a")
    assert not matches("a.b", "a.b.c")


@pytest.mark.parametrize("operation", STREAM_ADMIN)
def test_only_the_admin_may_manage_the_stream(operation: str) -> None:
    subject = f"$JS.API.STREAM.{operation}.SETPOINT"
    for who in [*ALL, STRATEGY]:
        assert may_publish(grants(who), subject) is (who.kind is Kind.ADMIN), who


def test_appends_only_by_each_producer_of_its_service() -> None:
    producers = {
        Kind.DIFFER: {"intake", "differ"},
        Kind.EXECUTOR: {"executor"},
        Kind.GATEWAY: {"gateway"},
    }
    for who in [*ALL, STRATEGY]:
        if who.kind is Kind.ADMIN:
            continue
        for producer in ("intake", "differ", "executor", "gateway", "strategy"):
            subject = f"setpoint.evt.demo.BTC-USDT.{producer}.OrderPlaced"
            allowed = producer in producers.get(who.kind, set())
            assert may_publish(grants(who), subject) is allowed, (who.kind, producer)


def test_only_the_executor_sends_gateway_commands_and_only_the_gateway_answers() -> None:
    for who in [*ALL, STRATEGY]:
        found = grants(who)
        admin = who.kind is Kind.ADMIN
        assert may_publish(found, "setpoint.gw.demo.place") is (admin or who.kind is Kind.EXECUTOR)
        assert may_subscribe(found, "setpoint.gw.demo.place") is (admin or who.kind is Kind.GATEWAY)


@given(account=TOKEN)
def test_a_strategy_targets_and_reads_only_its_accounts(account: str) -> None:
    found = grants(STRATEGY)
    granted = account in STRATEGY.accounts
    assert may_publish(found, f"setpoint.target.{account}.BTC-USDT") is granted
    create = f"$JS.API.CONSUMER.CREATE.SETPOINT.sp01.setpoint.evt.{account}.>"
    assert may_publish(found, create) is granted
    assert may_publish(found, f"$JS.API.DIRECT.GET.SETPOINT.setpoint.evt.{account}.>") is granted
    assert may_subscribe(found, f"setpoint.md.{account}.BTC-USDT.ticker") is granted
    assert may_subscribe(found, f"setpoint.status.{account}.BTC-USDT") is granted


def test_a_strategy_cannot_read_the_whole_log() -> None:
    found = grants(STRATEGY)
    for subject in (
        "$JS.API.CONSUMER.CREATE.SETPOINT",
        "$JS.API.CONSUMER.CREATE.SETPOINT.sp01.setpoint.evt.>",
        "$JS.API.DIRECT.GET.SETPOINT",
        "$JS.API.STREAM.MSG.GET.SETPOINT",
        "setpoint.evt.acct-a.BTC-USDT.intake.TargetPublished",
    ):
        assert not may_publish(found, subject), subject


def test_readers_read_and_write_nothing() -> None:
    for kind in (Kind.AUDITOR, Kind.CONSOLE):
        found = grants(identity(kind))
        assert may_publish(found, "$JS.API.CONSUMER.CREATE.SETPOINT")
        assert may_publish(found, "$JS.API.CONSUMER.MSG.NEXT.SETPOINT.sp01")
        assert may_publish(found, "$JS.API.STREAM.INFO.SETPOINT")
        for subject in ("setpoint.evt.a.B.gateway.X", "setpoint.target.a.B", "setpoint.gw.a.place"):
            assert not may_publish(found, subject)
    console = grants(identity(Kind.CONSOLE))
    assert may_subscribe(console, "setpoint.status.demo.BTC-USDT")
    assert may_publish(console, "setpoint.status.request")
    assert may_subscribe(console, "setpoint.health.console")  # it answers its health


def test_a_strategy_asks_its_accounts_market_data_and_the_gateway_hears_it() -> None:
    found = grants(STRATEGY)
    for account in STRATEGY.accounts:
        assert may_publish(found, f"setpoint.md.{account}.subscribe")
    assert not may_publish(found, "setpoint.md.other-account.subscribe")
    assert may_subscribe(grants(identity(Kind.GATEWAY)), "setpoint.md.any.subscribe")


def test_each_identity_reads_only_its_own_inbox() -> None:
    for who in [*ALL, STRATEGY]:
        found = grants(who)
        if found is None:
            continue
        assert may_subscribe(found, f"{inbox_prefix(who.public_key)}.abc.1")
        assert not may_subscribe(found, "_INBOX.abc.1")
        assert not may_subscribe(found, ">")


def test_the_stream_name_is_the_layouts() -> None:
    found = grants(identity(Kind.AUDITOR), Layout(stream="OTHER"))
    assert may_publish(found, "$JS.API.STREAM.INFO.OTHER")
    assert not may_publish(found, "$JS.API.STREAM.INFO.SETPOINT")


def test_the_rendered_configuration_has_every_user_and_tls() -> None:
    text = render_server_config(
        [*ALL, STRATEGY], host="127.0.0.1", port=4222, store_dir="/s",
        tls=ServerTls("/c.pem", "/k.pem"), pid_file="/p",
    )  # fmt: skip
    for who in [*ALL, STRATEGY]:
        assert text.count(f'nkey: "{who.public_key}"') == 1
    assert 'listen: "127.0.0.1:4222"' in text
    assert 'cert_file: "/c.pem"' in text
    assert text.count("allow_responses: true") == 5  # the services and the console (health)


LEASE_HOLDERS = {Kind.DIFFER: "differ", Kind.EXECUTOR: "executor", Kind.GATEWAY: "gateway"}
KV = "$JS.API.{}.KV_SETPOINT_LEASES"
LEASE_READS = (
    KV.format("STREAM.INFO"),
    KV.format("DIRECT.GET") + ".$KV.SETPOINT_LEASES.differ.l.p003",
    KV.format("DIRECT.GET"),
    KV.format("STREAM.MSG.GET"),
    KV.format("CONSUMER.CREATE"),
    KV.format("CONSUMER.INFO") + ".abc123",
    "$JS.FC.KV_SETPOINT_LEASES.abc123.6.4",
)


def test_only_the_lease_holders_use_the_lease_bucket() -> None:
    for who in [*ALL, STRATEGY]:
        found, admin = grants(who), who.kind is Kind.ADMIN
        holder = who.kind in LEASE_HOLDERS
        for subject in LEASE_READS:
            assert may_publish(found, subject) is (admin or holder), (who.kind, subject)
        for group in ("differ", "executor", "gateway"):
            own = LEASE_HOLDERS.get(who.kind) == group
            for key in (f"{group}.l.p007", f"{group}.m.{group}-host-1-ab12", f"{group}.l.demo"):
                subject = f"$KV.SETPOINT_LEASES.{key}"
                assert may_publish(found, subject) is (admin or own), (who.kind, subject)


def test_nobody_but_the_admin_makes_or_removes_the_lease_bucket() -> None:
    for operation in STREAM_ADMIN:
        subject = f"$JS.API.STREAM.{operation}.KV_SETPOINT_LEASES"
        for who in [*ALL, STRATEGY]:
            assert may_publish(grants(who), subject) is (who.kind is Kind.ADMIN), who
    for who in [*ALL, STRATEGY]:  # nor deletes a lease watcher's consumer
        allowed = who.kind is Kind.ADMIN
        subject = f"{KV.format('CONSUMER.DELETE')}.abc123"
        assert may_publish(grants(who), subject) is allowed


def test_a_bad_seed_is_named_by_its_source_never_shown() -> None:
    with pytest.raises(ConfigError, match=r"^file:/x: not an nkey user seed$"):
        parse_seed("SUNOTASEED", "file:/x")
    account_seed = "SA" + new_seed()[2:]
    with pytest.raises(ConfigError) as caught:
        parse_seed(account_seed, "env:S")
    assert account_seed not in str(caught.value)
    seed = new_seed()
    parsed = parse_seed(seed + "\n", "env:S")
    assert parsed.public_key == public_key(seed)
    assert seed not in repr(parsed)
