"""Instrument names and pip sizes.

Instruments use OANDA's form ``BASE_QUOTE`` (``EUR_USD``). A pip is 0.01 when the
quote currency is JPY and 0.0001 for other currency pairs. Metals, indices,
commodities and crypto have no such convention, so their pip size must be
configured (or read from the broker: OANDA's ``pipLocation``).
"""

from __future__ import annotations

import re
from typing import Final

from gateway.errors import UnknownInstrumentError
from gateway.prices import PRICE_SCALE

INSTRUMENT_PATTERN: Final = re.compile(r"[A-Z0-9]{2,10}_[A-Z0-9]{2,10}")

# ISO 4217 codes of currencies traded as forex pairs (metals XAU/XAG/XPT/XPD are not).
CURRENCIES: Final = frozenset(
    [
        "AUD",
        "CAD",
        "CHF",
        "CNH",
        "CZK",
        "DKK",
        "EUR",
        "GBP",
        "HKD",
        "HUF",
        "ILS",
        "JPY",
        "MXN",
        "NOK",
        "NZD",
        "PLN",
        "RUB",
        "SAR",
        "SEK",
        "SGD",
        "THB",
        "TRY",
        "USD",
        "ZAR",
    ]
)
JPY_PIP_PX: Final = PRICE_SCALE // 100
STANDARD_PIP_PX: Final = PRICE_SCALE // 10_000


def validate_instrument(name: str) -> str:
    """Return ``name`` if it has the ``BASE_QUOTE`` form, else raise UnknownInstrumentError."""
    if not isinstance(name, str) or INSTRUMENT_PATTERN.fullmatch(name) is None:
        raise UnknownInstrumentError(
            f"instrument {name!r} is not of the form BASE_QUOTE (e.g. EUR_USD)", instrument=str(name)
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
        return JPY_PIP_PX if quote == "JPY" else STANDARD_PIP_PX
    raise UnknownInstrumentError(
        f"no pip size is known for {instrument!r}: it is not a pair of two currencies; "
        f"set quality.instruments.{instrument}.pip_size",
        instrument=instrument,
    )


def display_decimals(instrument: str) -> int:
    """Decimals a person expects to see: 3 for JPY-quoted pairs, 5 otherwise (pipettes)."""
    return 3 if instrument.endswith("_JPY") else 5
