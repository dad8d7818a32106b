"""Instrument names and pip sizes.

Instruments use OANDA's form ``BASE_QUOTE`` (``EUR_USD``). For a pair of two
currencies (:data:`CURRENCIES`: ISO 4217 and CNH) a pip is 0.01 when the quote
currency is JPY or one like it (:data:`HUNDREDTH_PIP_CURRENCIES`) and 0.0001
otherwise. Metals, indices,
commodities and crypto have no such convention, so their pip size must be
configured (or read from the broker: OANDA's ``pipLocation``).
"""

from __future__ import annotations

import re
from typing import Final

from gateway.echo import NAME_CHARS, shown
from gateway.errors import UnknownInstrumentError
from gateway.prices import PRICE_SCALE

INSTRUMENT_PATTERN: Final = re.compile(r"[A-Z0-9]{2,10}_[A-Z0-9]{2,10}")

ISO_4217_CODES: Final = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG
HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA
MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD
RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
"""Active ISO 4217 currency codes (2025), without the fund, testing and precious-metal codes (X.. units,
XAU/XAG/XPT/XPD: metals have no pip convention and need a configured or broker-given pip size)."""

CURRENCIES: Final = frozenset([*ISO_4217_CODES.split(), "CNH"])
"""Currencies a pair may be made of: ISO 4217, plus CNH (offshore yuan, quoted by OANDA and most brokers)."""

HUNDREDTH_PIP_CURRENCIES: Final = frozenset(["JPY", "HUF", "KRW", "ISK", "CLP", "COP", "IDR", "VND", "THB", "INR"])
"""Quote currencies whose pip is 0.01, as for JPY: units worth about a US cent or less, which the market quotes to
two or three decimals (USD_JPY 150.123, USD_HUF 365.12, USD_THB 35.123, USD_INR 83.123). Every other quote
currency has the 0.0001 pip, including the high-priced ones the market still quotes to four decimals (USD_MXN,
USD_ZAR, USD_TRY, USD_CZK). A broker's own pip (OANDA's ``pipLocation``) and a configured ``pip_size`` win."""

HUNDREDTH_PIP_PX: Final = PRICE_SCALE // 100
STANDARD_PIP_PX: Final = PRICE_SCALE // 10_000


def validate_instrument(name: str) -> str:
    """Return ``name`` if it has the ``BASE_QUOTE`` form, else raise UnknownInstrumentError."""
    if not isinstance(name, str) or INSTRUMENT_PATTERN.fullmatch(name) is None:
        raise UnknownInstrumentError(
            f"instrument {shown(name)} is not of the form BASE_QUOTE (e.g. EUR_USD)", instrument=str(name)[:NAME_CHARS]
        )
    return name


def default_pip_px(instrument: str) -> int:
    """Pip size in 1e-9 price units for a currency pair.

    Raises UnknownInstrumentError for anything that is not a pair of two known
    currencies, since guessing a metal's or an index's pip would make every
    pip-based limit wrong by orders of magnitude.
    """
    base, _, quote = validate_instrument(instrument).partition("_")
    if base in CURRENCIES and quote in CURRENCIES:
        return HUNDREDTH_PIP_PX if quote in HUNDREDTH_PIP_CURRENCIES else STANDARD_PIP_PX
    raise UnknownInstrumentError(
        f"no pip size is known for {instrument!r}: it is not a pair of two currencies; "
        f"set quality.instruments.{instrument}.pip_size",
        instrument=instrument,
    )


def display_decimals(instrument: str) -> int:
    """Decimals a person expects to see: pipettes, 3 for pairs with a 0.01 pip (USD_JPY), 5 otherwise."""
    return 3 if instrument.rpartition("_")[2] in HUNDREDTH_PIP_CURRENCIES else 5
