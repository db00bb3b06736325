"""`setpoint target set` as a process against a real nats-server, with a stand-in intake
that accepts generation 1 and rejects anything else."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg

from setpoint.bus import subjects

pytestmark = [pytest.mark.nats, pytest.mark.timeout(60)]


async def _cli(nats_url: str, cwd: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETPOINT_")}
    env["SETPOINT_NATS__URL"] = nats_url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "setpoint",
        "target",
        "set",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_accepted_rejected_and_unanswered(nats_url: str, tmp_path: Path) -> None:
    received: list[dict[str, object]] = []

    async def intake(msg: Msg) -> None:
        body = json.loads(msg.data)
        received.append(body)
        if body["generation"] == 1:
            reply = {"accepted": True, "generation": 1}
        else:
            reply = {"accepted": False, "error": "generation: 0 is not above the last (1)"}
        await msg.respond(json.dumps(reply).encode())

    nc = await nats.connect(nats_url)
    await nc.subscribe(subjects.target_subject("cli", "ETH/USDT"), cb=intake)
    target = tmp_path / "target.json"
    try:
        target.write_text(json.dumps({"generation": 1, "strategy": "by-hand", "orders": []}))
        code, out, _ = await _cli(
            nats_url, tmp_path, "--account", "cli", "--symbol", "ETH/USDT", "--file", str(target)
        )
        assert code == 0
        assert json.loads(out) == {"accepted": True, "generation": 1}
        assert received[0]["account"] == "cli"
        assert received[0]["symbol"] == "ETH/USDT"

        target.write_text(json.dumps({"generation": 0, "strategy": "by-hand", "orders": []}))
        code, out, _ = await _cli(
            nats_url, tmp_path, "--account", "cli", "--symbol", "ETH/USDT", "--file", str(target)
        )
        assert code == 1
        assert json.loads(out)["error"].startswith("generation:")

        code, _, err = await _cli(
            nats_url,
            tmp_path,
            "--account",
            "nobody",
            "--symbol",
            "ETH/USDT",
            "--file",
            str(target),
            "--timeout",
            "1",
        )
        assert code == 2
        assert "no differ answered" in err

        target.write_text("{not json")
        code, _, err = await _cli(
            nats_url, tmp_path, "--account", "cli", "--symbol", "ETH/USDT", "--file", str(target)
        )
        assert code == 2
        assert "not valid JSON" in err
    finally:
        await nc.drain()


async def test_account_and_symbol_from_the_body(nats_url: str, tmp_path: Path) -> None:
    subjects_seen: list[str] = []

    async def intake(msg: Msg) -> None:
        subjects_seen.append(msg.subject)
        await msg.respond(json.dumps({"accepted": True, "generation": 1}).encode())

    nc = await nats.connect(nats_url)
    await nc.subscribe(subjects.target_subject("cli", "BTC/USDT"), cb=intake)
    target = tmp_path / "target.json"
    body = {"account": "cli", "symbol": "BTC/USDT", "generation": 1, "orders": []}
    try:
        target.write_text(json.dumps(body))
        code, out, err = await _cli(nats_url, tmp_path, "--file", str(target))
        assert code == 0, err
        assert subjects_seen == [subjects.target_subject("cli", "BTC/USDT")]
        assert json.loads(out) == {"accepted": True, "generation": 1}

        target.write_text(json.dumps({"symbol": "BTC/USDT", "generation": 1}))
        code, _, err = await _cli(nats_url, tmp_path, "--file", str(target))
        assert code == 2
        assert 'no account: give --account or a "account" string in' in err

        target.write_text(json.dumps({"account": "cli", "generation": 1}))
        code, _, err = await _cli(nats_url, tmp_path, "--file", str(target))
        assert code == 2
        assert 'no symbol: give --symbol or a "symbol" string in' in err
    finally:
        await nc.drain()
