"""Dukascopy's point sizes, pure: the price unit of the integers in its tick files, in 1e-9 price units.

Apart from the decode (collectors.dukascopy.parsing, numpy), so that the config, and with it every gateway,
loads without numpy.

A point per instrument (:func:`default_point_px`):

=========================================  ==========  ==================
instruments                                 point       e.g.
=========================================  ==========  ==================
pairs of two currencies, most quotes        0.00001     EUR_USD 1.14545
quote JPY (and HUF, KRW, ...: the 0.01-pip  0.001       USD_JPY 108.123
currencies of gateway.instruments)
XAU (gold), XAG (silver) against anything   0.001       XAU_USD 1291.250
BTC against anything                        0.1         BTC_USD 24921.5
anything else                               configure ``point_size``
=========================================  ==========  ==================
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

from gateway.errors import BadValueError, UnknownInstrumentError
from gateway.instruments import CURRENCIES, HUNDREDTH_PIP_CURRENCIES, validate_instrument
from gateway.prices import PRICE_SCALE

POINT_PX_STANDARD: Final = PRICE_SCALE // 100_000
POINT_PX_HUNDREDTH: Final = PRICE_SCALE // 1_000
POINT_PX_BY_BASE: Final[dict[str, int]] = {
    "XAU": PRICE_SCALE // 1_000,
    "XAG": PRICE_SCALE // 1_000,
    "BTC": PRICE_SCALE // 10,
}
"""Points of instruments that are not a pair of two currencies, by their base (1e-9 price units)."""


def default_point_px(instrument: str) -> int:
    """Dukascopy's point of ``instrument`` in 1e-9 price units (see the table above).

    Raises UnknownInstrumentError when none is known: set ``point_size`` (config) or ``point_px``.
    """
    base, _, quote = validate_instrument(instrument).partition("_")
    if base in POINT_PX_BY_BASE:
        return POINT_PX_BY_BASE[base]
    if base in CURRENCIES and quote in CURRENCIES:
        return POINT_PX_HUNDREDTH if quote in HUNDREDTH_PIP_CURRENCIES else POINT_PX_STANDARD
    raise UnknownInstrumentError(
        f"no Dukascopy point size is known for {instrument}; set point_size (e.g. '0.001')", instrument=instrument
    )


def point_px_of(point_size: str) -> int:
    """A decimal point size (``'0.001'``) in 1e-9 units; raises BadValueError unless a positive multiple of 1e-9."""
    try:
        value = Decimal(point_size) * PRICE_SCALE
    except InvalidOperation as exc:
        raise BadValueError(f"point size {point_size[:40]!r} is not a decimal number") from exc
    if not value.is_finite() or value <= 0 or value != value.to_integral_value() or value > PRICE_SCALE * 1000:
        raise BadValueError(f"point size {point_size[:40]!r} is not a positive multiple of 1e-9 up to 1000")
    return int(value)
