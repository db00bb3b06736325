"""`setpoint init`: each template loads with the configuration loader as written, and the
demo one is the built-in demo spelt out."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from setpoint.cli import main as cli_main
from setpoint.config import demo_settings_data, load_settings, resolve_secret
from setpoint.core.errors import SecretUnavailable
from setpoint.ops.init import TEMPLATES
from setpoint.ops.up import make_plan


def _init(tmp_path: Path, *args: str) -> int:
    return cli_main(["init", str(tmp_path / "demo"), *args])


def test_the_demo_file_is_the_built_in_demo(tmp_path: Path) -> None:
    assert _init(tmp_path) == 0
    path = tmp_path / "demo" / "setpoint.toml"
    settings = load_settings(str(path))
    builtin = demo_settings_data()
    assert settings.demo is True
    assert settings.accounts["demo"].base_url == builtin["accounts"]["demo"]["base_url"]
    assert settings.strategies["grid-1"].symbol == "BTC/USDT"
    assert str(settings.sim.state_file) == builtin["sim"]["state_file"]
    okx = settings.accounts["demo-okx"]
    assert (okx.exchange, okx.base_url, okx.passphrase) == (
        "okx",
        builtin["accounts"]["demo-okx"]["base_url"],
        builtin["accounts"]["demo-okx"]["passphrase"],
    )
    assert settings.sims["okx"].model_dump(exclude_unset=True) == builtin["sims"]["okx"] | {
        "state_file": Path(builtin["sims"]["okx"]["state_file"])
    }
    env = make_plan(settings, path, {}).services[0].env
    assert env is not None
    assert env["SETPOINT_DEMO_SECRET"] == "demo-secret"  # `up` gives the simulator's keys


@pytest.mark.parametrize("venue", ["binance", "okx"])
def test_real_venue_files_load_with_references_only(tmp_path: Path, venue: str) -> None:
    assert _init(tmp_path, "--venue", venue) == 0
    settings = load_settings(str(tmp_path / "demo" / "setpoint.toml"))
    account = settings.accounts["main"]
    assert (account.exchange, account.base_url, settings.demo) == (venue, None, False)
    assert account.api_key.startswith("env:")
    assert account.secret.startswith("env:")
    assert account.max_order_notional is not None
    assert settings.strategies == {}
    if venue == "okx":
        assert account.passphrase == "env:OKX_API_PASSPHRASE"
        with pytest.raises(SecretUnavailable, match="OKX_API_PASSPHRASE is not set"):
            resolve_secret(account.passphrase)


def test_every_template_is_commented_toml() -> None:
    for text in TEMPLATES.values():
        tomllib.loads(text)
        assert text.count("\n# ") >= 5


def test_an_existing_file_is_kept_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _init(tmp_path) == 0
    assert _init(tmp_path) == 0  # the same file again: nothing to do
    assert "already there, unchanged" in capsys.readouterr().out
    path = tmp_path / "demo" / "setpoint.toml"
    path.write_text("# mine\n")
    assert _init(tmp_path, "--venue", "binance") == 2
    assert "exists; --force replaces it" in capsys.readouterr().err
    assert path.read_text() == "# mine\n"
    assert _init(tmp_path, "--venue", "binance", "--force") == 0
    assert 'exchange = "binance"' in path.read_text()


def test_an_unknown_venue_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli_main(["init", "--venue", "kraken"])
    assert exit_.value.code == 2
    assert "invalid choice: 'kraken'" in capsys.readouterr().err


def test_an_okx_passphrase_reaches_ccxt_and_the_redactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from setpoint.venues.exchange import _config, credentials

    assert _init(tmp_path, "--venue", "okx") == 0
    account = load_settings(str(tmp_path / "demo" / "setpoint.toml")).accounts["main"]
    for name, value in (("KEY", "k-1"), ("SECRET", "s-1"), ("PASSPHRASE", "p-1")):
        monkeypatch.setenv(f"OKX_API_{name}", value)
    creds = credentials(account)
    assert creds.redactions == ("k-1", "s-1", "p-1")
    assert "p-1" not in repr(creds)
    assert _config(account, creds, 1000)["password"] == "p-1"
