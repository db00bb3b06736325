"""The `setpoint` command run as a subprocess, as an operator would run it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


async def setpoint(config: Path, *args: str) -> tuple[int, str, str]:
    """Run `setpoint --config CONFIG ARGS...`; (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "setpoint",
        "--config",
        str(config),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
