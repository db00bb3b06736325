"""The example strategy of docs/strategies.md runs as written."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from logfacts import ACCOUNT, full_fill, ticker, view

from setpoint.config import StrategyConfig
from setpoint.testing.synthetic import market

DOC = Path(__file__).resolve().parents[3] / "docs" / "strategies.md"


def _example() -> Any:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None
    namespace: dict[str, Any] = {"__name__": "strategies_doc"}
    exec(compile(code.group(1), str(DOC), "exec", dont_inherit=True), namespace)
    return namespace["Quote"]()


def test_the_documented_quote_strategy() -> None:
    quote = _example()
    config = StrategyConfig(kind="grid", account=ACCOUNT, symbol="ETH/USDT")
    symbols = quote.symbols(config)

    def decide(state: Any, events: list[Any]) -> Any:
        v = view(
            "quote-1",
            symbols,
            {"quantity": "0.01"},
            tickers=(ticker("ETH/USDT", "3000"),),
            logs={"ETH/USDT": events},
            markets=(market("ETH/USDT"),),
        )
        return quote.decide(state, v)

    first = decide(quote.initial(config), [])
    (bid,) = first.targets["ETH/USDT"].orders
    assert bid.price == Decimal("2994.00")
    second = decide(first.state, full_fill("ETH/USDT", bid))
    (again,) = second.targets["ETH/USDT"].orders
    assert again.id != bid.id
