"""The web console in a real headless Chromium (Debian's `/usr/bin/chromium`, driven by
Playwright for Python; Playwright's own browser download is never used).

On the shared running system (`system.py`: nats-server, simulator, gateway, differ,
executor as processes) a console process is started; the test opens it, publishes a
target whose first placement the venue holds a moment (a `delay` fault), and checks what
a trader sees: the key drifting then converged on the overview, the order on the key's
ladder, a fill after the simulator fills it, and the order's explain chain with its trace
id. Screenshots go to the test's temporary directory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from system import System, eventually

from setpoint.bus.embedded import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SYMBOL = "ETH/USDT"
ROW = f'tr[data-key="e2e {SYMBOL}"]'

# Every condition the overview row ever displays, in order (a drift may last a second).
RECORD_CONDITIONS = """() => {
  window.seen = [];
  const note = () => {
    const cell = document.querySelector('ROW td.condition .badge');
    const value = cell ? cell.textContent : null;
    if (value && window.seen[window.seen.length - 1] !== value) window.seen.push(value);
  };
  new MutationObserver(note).observe(document.body, {subtree: true, childList: true,
                                                     characterData: true});
  note();
}""".replace("ROW", ROW)


def _chromium_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (Debian package `chromium`)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture
async def console(system: System) -> AsyncIterator[str]:
    """A console process on the shared system; its URL."""
    port = free_port()
    system.spawn("console", "--port", str(port))
    try:
        await system.wait_ready("console")
        yield f"http://127.0.0.1:{port}/"
    finally:
        system.stop("console")


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    missing = _chromium_missing()
    if missing is not None:
        pytest.skip(missing)
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            opened = await browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            opened.on("pageerror", lambda exc: errors.append(str(exc)))
            yield opened
            assert errors == [], f"errors in the page: {errors}"
        finally:
            await browser.close()


async def test_console_shows_a_key_converge_fill_and_explain(
    system: System, console: str, page: Any, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    await page.goto(console)
    await page.wait_for_selector("#services tr[data-service=differ]")
    await page.evaluate(RECORD_CONDITIONS)

    await system.control("POST", "/_sim/faults", {"rules": [
        {"kind": "delay", "method": "POST", "path": "/api/v3/order", "count": 1,
         "delay_ms": 1000},
    ]})  # fmt: skip
    try:
        await system.target(
            SYMBOL, [{"id": "console-bid", "side": "buy", "price": "2990.00", "quantity": "0.0100"}]
        )

        async def drifted_then_converged() -> bool:
            seen: list[str] = await page.evaluate("window.seen")
            return (
                "drifting" in seen
                and seen[-1] == "converged"
                and (seen.index("drifting") < len(seen) - 1)
            )

        await eventually(drifted_then_converged, 60, "the key drifting, then converged")
    finally:
        await system.control("DELETE", "/_sim/faults")
    await page.screenshot(path=str(shots / "1-overview.png"), full_page=True)

    await page.click(f"{ROW} a.key-link")
    ours = page.locator('#ladder tr[data-price="2990.00"][data-side=buy] td.ours .order')
    await ours.first.wait_for()
    target = page.locator('#ladder tr[data-price="2990.00"] td.target [data-intent=console-bid]')
    assert "0.0100" in await target.inner_text()
    coid = await ours.first.get_attribute("data-coid")
    assert coid is not None
    assert coid.startswith("sp-")
    assert await page.locator("#timeline .mark").count() >= 3
    await page.screenshot(path=str(shots / "2-key.png"), full_page=True)

    await system.control("POST", "/_sim/fill", {"client_order_id": coid})
    fill = page.locator(f'#fills tr.fill[data-coid="{coid}"]')
    await fill.first.wait_for()
    filled = await fill.first.inner_text()
    assert "buy 0.01" in filled
    assert "@ 2990" in filled
    await page.wait_for_selector('#timeline rect.mark[data-lane="fill"]')
    await page.screenshot(path=str(shots / "3-filled.png"), full_page=True)

    await page.goto(f"{console}#/events?symbol={SYMBOL}&type=FillObserved")
    await page.locator(f'#events tr.event a.explain:text("{coid}")').first.click()
    chain = page.locator("#chain li")
    await page.wait_for_selector('#chain li[data-type="FillObserved"]')
    types = [await item.get_attribute("data-type") for item in await chain.all()]
    for step in ("TargetPublished", "DiffComputed", "OrderSubmitted", "OrderPlaced"):
        assert step in types, types
    assert (
        types.index("TargetPublished") < types.index("OrderSubmitted") < types.index("FillObserved")
    )
    shown = [t.strip() for t in await page.locator("#chain code.trace").all_inner_texts()]
    reply = await page.request.get(f"{console}api/explain?client_order_id={coid}")
    chain = (await reply.json())["chain"]
    assert shown == [e["trace_id"] or "-" for e in chain]  # ids only where telemetry is on
    await page.screenshot(path=str(shots / "4-explain.png"), full_page=True)
    assert len(list(shots.glob("*.png"))) == 4
