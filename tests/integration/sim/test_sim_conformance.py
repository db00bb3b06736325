"""`setpoint.venues.conformance`: URLs and error classification for a compatible venue."""

from __future__ import annotations

import ccxt
import ccxt.async_support
import ccxt.pro
import pytest

from setpoint.venues.conformance import make_binance, point_at

pytestmark = pytest.mark.sim


async def test_every_rest_section_and_websocket_points_at_the_base_url() -> None:
    exchange = make_binance("http://127.0.0.1:1", "k", "s", pro=True)
    try:
        api = exchange.urls["api"]
        rest = {k: v for k, v in api.items() if k != "ws"}
        assert all(url.startswith("http://127.0.0.1:1/") for url in rest.values())
        assert api["fapiPrivateV3"] == "http://127.0.0.1:1/fapi/v3"
        assert api["public"] == "http://127.0.0.1:1/api/v3"
        assert api["ws"]["ws-api"]["spot"] == "ws://127.0.0.1:1/ws-api/v3"
        assert exchange.get_private_ws_url("linear", "KEY") == (
            "ws://127.0.0.1:1/private/ws?listenKey=KEY"
        )
        assert exchange.options["fetchCurrencies"] is False
    finally:
        await exchange.close()


async def test_point_at_keeps_the_callers_default_type() -> None:
    exchange = ccxt.async_support.binance({"options": {"defaultType": "swap"}})
    try:
        point_at(exchange, "https://venue.example")
        assert exchange.options["defaultType"] == "swap"
        point_at(exchange, "https://venue.example", default_type="spot")
        assert exchange.options["defaultType"] == "spot"
    finally:
        await exchange.close()


async def test_errors_are_classified_by_path_like_binance_by_host() -> None:
    exchange = make_binance("http://127.0.0.1:1", "k", "s")
    try:
        body = '{"code":-2019,"msg":"Margin is insufficient."}'
        url = "http://127.0.0.1:1/fapi/v1/order"
        with pytest.raises(ccxt.InsufficientFunds):
            exchange.handle_errors(
                400, "", url, "POST", {}, body, exchange.parse_json(body), {}, ""
            )
        spot = "http://127.0.0.1:1/api/v3/order"
        body = '{"code":-2022,"msg":"x"}'
        with pytest.raises(ccxt.BadResponse):  # -2022 on spot, as on api.binance.com
            exchange.handle_errors(
                400, "", spot, "POST", {}, body, exchange.parse_json(body), {}, ""
            )
    finally:
        await exchange.close()
