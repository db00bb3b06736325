"""After every other execution-path scenario (pytest runs files in name order, and this
one is last): `setpoint audit` over the shared system's log finds it clean: every order
traced to a diff and a target, no fill twice, no intent placed twice at once, positions
equal to the sum of fills."""

from __future__ import annotations

import pytest
from system import System

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


async def test_the_log_passes_the_audit(system: System) -> None:
    report = await system.audit()  # clean, exit 0
    assert report["events"] > 0
