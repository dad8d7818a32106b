"""gateway.instruments: instrument names and pip sizes in 1e-9 price units."""

from __future__ import annotations

import pytest

from gateway.errors import UnknownInstrumentError
from gateway.instruments import default_pip_px, validate_instrument
from gateway.prices import parse_price


@pytest.mark.parametrize(
    ("instrument", "pip"),
    [
        pytest.param("EUR_USD", "0.0001", id="eur_usd"),
        pytest.param("GBP_USD", "0.0001", id="gbp_usd"),
        pytest.param("EUR_GBP", "0.0001", id="eur_gbp_cross"),
        pytest.param("USD_CHF", "0.0001", id="usd_chf"),
        pytest.param("USD_CNH", "0.0001", id="usd_cnh_offshore_yuan"),
        pytest.param("USD_JPY", "0.01", id="usd_jpy"),
        pytest.param("EUR_JPY", "0.01", id="eur_jpy_cross"),
        pytest.param("GBP_JPY", "0.01", id="gbp_jpy_cross"),
        pytest.param("JPY_USD", "0.0001", id="jpy_as_base_is_not_a_jpy_quote"),
        pytest.param("USD_INR", "0.01", id="usd_inr_hundredth"),
        pytest.param("USD_HUF", "0.01", id="usd_huf_hundredth"),
        pytest.param("USD_THB", "0.01", id="usd_thb_hundredth"),
        pytest.param("EUR_HUF", "0.01", id="eur_huf_cross"),
        pytest.param("USD_KRW", "0.01", id="usd_krw"),
        pytest.param("USD_MXN", "0.0001", id="usd_mxn_four_decimals"),
        pytest.param("USD_ZAR", "0.0001", id="usd_zar_four_decimals"),
        pytest.param("USD_TRY", "0.0001", id="usd_try_four_decimals"),
        pytest.param("USD_CZK", "0.0001", id="usd_czk_four_decimals"),
        pytest.param("USD_BRL", "0.0001", id="iso_4217_beyond_the_majors"),
        pytest.param("USD_AED", "0.0001", id="usd_aed"),
    ],
)
def test_pair_pip_is_one_hundredth_for_jpy_like_quotes_else_one_ten_thousandth(instrument: str, pip: str) -> None:
    assert default_pip_px(instrument) == parse_price(pip)


def test_pip_sizes_in_units() -> None:
    assert default_pip_px("EUR_USD") == 100_000
    assert default_pip_px("USD_JPY") == 10_000_000


@pytest.mark.parametrize(
    "instrument",
    [
        pytest.param("XAU_USD", id="gold"),
        pytest.param("XAG_USD", id="silver"),
        pytest.param("SPX500_USD", id="index"),
        pytest.param("BCO_USD", id="brent"),
        pytest.param("BTC_USD", id="crypto"),
        pytest.param("USD_XAU", id="metal_as_quote"),
        pytest.param("XPT_USD", id="platinum"),
        pytest.param("USD_XXX", id="iso_no_currency_code"),
        pytest.param("USD_ABC", id="not_a_currency"),
    ],
)
def test_non_currency_pair_has_no_default_pip_and_the_error_names_the_config_key(instrument: str) -> None:
    with pytest.raises(UnknownInstrumentError) as caught:
        default_pip_px(instrument)
    assert f"quality.instruments.{instrument}.pip_size" in str(caught.value)
    assert caught.value.instrument == instrument


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("EURUSD", id="no_underscore"),
        pytest.param("eur_usd", id="lowercase"),
        pytest.param("EUR-USD", id="dash"),
        pytest.param("EUR/USD", id="slash"),
        pytest.param("EUR_USD ", id="trailing_space"),
        pytest.param("E_USD", id="one_letter_base"),
        pytest.param("EUR_USD_X", id="three_parts"),
        pytest.param("", id="empty"),
    ],
)
def test_name_not_of_the_form_base_quote_is_an_unknown_instrument(name: str) -> None:
    with pytest.raises(UnknownInstrumentError, match="BASE_QUOTE") as caught:
        default_pip_px(name)
    assert repr(name) in str(caught.value)
    assert caught.value.instrument == name
    with pytest.raises(UnknownInstrumentError):
        validate_instrument(name)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param(b"EUR_USD", id="bytes"),
        pytest.param(42, id="int"),
    ],
)
def test_non_string_instrument_is_unknown(value: object) -> None:
    with pytest.raises(UnknownInstrumentError) as caught:
        validate_instrument(value)  # type: ignore[arg-type]
    assert caught.value.instrument == str(value)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("EUR_USD", id="pair"),
        pytest.param("XAU_USD", id="metal_has_valid_form"),
        pytest.param("SPX500_USD", id="index_with_digits"),
    ],
)
def test_valid_name_is_returned_unchanged(name: str) -> None:
    assert validate_instrument(name) is name
