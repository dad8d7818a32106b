"""gateway.quality: every rejection reason of the QualityGate, and the jump rules."""

from __future__ import annotations

import pytest

from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.events import Quote
from gateway.prices import parse_price
from gateway.quality import InstrumentLimits, QualityGate, QualityPolicy
from gateway.schema.market.v1.market_pb2 import RejectionReason

T0 = 1_700_000_000 * NS_PER_S
UNKNOWN = RejectionReason.REJECTION_REASON_UNKNOWN_INSTRUMENT
BAD_VALUE = RejectionReason.REJECTION_REASON_BAD_VALUE
CROSSED = RejectionReason.REJECTION_REASON_CROSSED
LOCKED = RejectionReason.REJECTION_REASON_LOCKED
FUTURE = RejectionReason.REJECTION_REASON_FUTURE_TIME
STALE = RejectionReason.REJECTION_REASON_STALE
OUT_OF_ORDER = RejectionReason.REJECTION_REASON_OUT_OF_ORDER
DUPLICATE = RejectionReason.REJECTION_REASON_DUPLICATE
SPREAD = RejectionReason.REJECTION_REASON_SPREAD_TOO_WIDE
JUMP = RejectionReason.REJECTION_REASON_PRICE_JUMP
OK = None

# EUR_USD reference quote 1.09170/1.09180 (mid 1.09175); SPIKE is 150 pips higher.
REF = ("1.09170", "1.09180")
NEAR = ("1.09171", "1.09181")
SPIKE = ("1.10670", "1.10680")
SPIKE_2 = ("1.10690", "1.10700")
SPIKE_3 = ("1.10650", "1.10660")
DIP = ("1.07670", "1.07680")


def tick(
    bid: str = REF[0],
    ask: str = REF[1],
    *,
    at_ms: int = 0,
    age_ms: int = 1,
    instrument: str = "EUR_USD",
    source: str = "a",
    tradeable: bool = True,
    liquidity: int = 1_000_000,
    snapshot: bool = False,
) -> Quote:
    """A quote with broker time ``T0 + at_ms`` received ``age_ms`` later."""
    event_ns = T0 + at_ms * NS_PER_MS
    return Quote(
        instrument=instrument,
        source=source,
        bid_px=parse_price(bid),
        ask_px=parse_price(ask),
        bid_liquidity=liquidity,
        ask_liquidity=liquidity,
        ts_event_ns=event_ns,
        ts_recv_ns=event_ns + age_ms * NS_PER_MS,
        tradeable=tradeable,
        snapshot=snapshot,
    )


def at(prices: tuple[str, str], at_ms: int, **fields: object) -> Quote:
    return tick(*prices, at_ms=at_ms, **fields)  # type: ignore[arg-type]


def reasons(gate: QualityGate, ticks: list[Quote]) -> list[int | None]:
    results = [gate.check(t) for t in ticks]
    return [None if result is None else result.reason for result in results]


def test_clean_quote_is_accepted() -> None:
    assert QualityGate(QualityPolicy()).check(tick()) is None


@pytest.mark.parametrize(
    ("quote", "reason", "details"),
    [
        pytest.param(
            tick("1900.10", "1900.30", instrument="XAU_USD"),
            UNKNOWN,
            ["XAU_USD", "quality.instruments.XAU_USD.pip_size"],
            id="metal_without_configured_pip_is_unknown_instrument",
        ),
        pytest.param(
            tick("5000.1", "5000.6", instrument="SPX500_USD"),
            UNKNOWN,
            ["quality.instruments.SPX500_USD.pip_size"],
            id="index_without_configured_pip_is_unknown_instrument",
        ),
        pytest.param(tick("0", "1.09180"), BAD_VALUE, ["non-positive", "bid=0"], id="zero_bid_is_bad_value"),
        pytest.param(tick("1.09170", "0"), BAD_VALUE, ["non-positive", "ask=0"], id="zero_ask_is_bad_value"),
        pytest.param(tick("-1.09170", "1.09180"), BAD_VALUE, ["bid=-1.09170"], id="negative_bid_is_bad_value"),
        pytest.param(
            tick("1.09190", "1.09180"), CROSSED, ["bid 1.09190 above ask 1.09180"], id="crossed_quote_is_rejected"
        ),
        pytest.param(
            tick("150.250", "150.200", instrument="USD_JPY"),
            CROSSED,
            ["bid 150.250 above ask 150.200"],
            id="crossed_jpy_quote_uses_jpy_decimals",
        ),
        pytest.param(tick("1.09180", "1.09180"), LOCKED, ["bid equals ask 1.09180"], id="locked_quote_is_rejected"),
        pytest.param(
            tick(age_ms=-2_001), FUTURE, ["2001 ms ahead", "limit 2000 ms"], id="quote_from_the_future_is_rejected"
        ),
        pytest.param(tick(age_ms=10_001), STALE, ["10001 ms old", "limit 10000 ms"], id="stale_quote_is_rejected"),
        pytest.param(
            tick("1.09000", "1.09201"), SPREAD, ["spread 20.1 pips", "limit 20"], id="spread_over_20_pips_is_rejected"
        ),
        pytest.param(
            tick("150.000", "150.250", instrument="USD_JPY"),
            SPREAD,
            ["spread 25.0 pips", "limit 20"],
            id="jpy_spread_is_measured_in_jpy_pips",
        ),
        pytest.param(
            tick("1.0900", "1.0925"),
            SPREAD,
            ["spread 25.0 pips"],
            id="distance_0.0025_is_25_pips_on_eur_usd",
        ),
    ],
)
def test_single_quote_check_rejects_with_its_reason_and_numbers(quote: Quote, reason: int, details: list[str]) -> None:
    rejection = QualityGate(QualityPolicy()).check(quote)
    assert rejection is not None
    assert rejection.reason == reason
    for detail in details:
        assert detail in rejection.detail
    assert quote.instrument in rejection.detail


@pytest.mark.parametrize(
    "quote",
    [
        pytest.param(tick(age_ms=-2_000), id="exactly_max_future_ms_ahead"),
        pytest.param(tick(age_ms=10_000), id="exactly_max_age_ms_old"),
        pytest.param(tick(age_ms=0), id="received_at_broker_time"),
        pytest.param(tick("1.09000", "1.09200"), id="spread_exactly_20_pips"),
        pytest.param(tick("150.000", "150.200", instrument="USD_JPY"), id="jpy_spread_exactly_20_pips"),
        pytest.param(tick("150.0000", "150.0025", instrument="USD_JPY"), id="distance_0.0025_is_a_quarter_jpy_pip"),
        pytest.param(tick("1.09170", "1.09171"), id="one_pipette_spread"),
    ],
)
def test_quote_at_the_limit_is_accepted(quote: Quote) -> None:
    assert QualityGate(QualityPolicy()).check(quote) is None


@pytest.mark.parametrize(
    ("quote", "reason"),
    [
        pytest.param(tick("-1", "-2", instrument="XAU_USD"), UNKNOWN, id="unknown_instrument_before_bad_value"),
        pytest.param(tick("0", "-1"), BAD_VALUE, id="bad_value_before_crossed"),
        pytest.param(tick("1.09190", "1.09180", age_ms=-60_000), CROSSED, id="crossed_before_future_time"),
        pytest.param(tick("1.09180", "1.09180", age_ms=60_000), LOCKED, id="locked_before_stale"),
        pytest.param(tick("1.0000", "1.1000", age_ms=-60_000), FUTURE, id="future_time_before_spread"),
        pytest.param(tick("1.0000", "1.1000", age_ms=60_000), STALE, id="stale_before_spread"),
    ],
)
def test_first_failing_check_in_documented_order_gives_the_reason(quote: Quote, reason: int) -> None:
    rejection = QualityGate(QualityPolicy()).check(quote)
    assert rejection is not None
    assert rejection.reason == reason


@pytest.mark.parametrize(
    ("policy", "steps"),
    [
        pytest.param(
            QualityPolicy(),
            [(at(REF, 2_000), OK), (at(NEAR, 1_000), OUT_OF_ORDER), (at(NEAR, 1_999), OUT_OF_ORDER)],
            id="older_broker_time_is_out_of_order",
        ),
        pytest.param(
            QualityPolicy(),
            [(at(REF, 1_000), OK), (at(NEAR, 1_000), OK)],
            id="same_time_new_prices_is_accepted",
        ),
        pytest.param(
            QualityPolicy(),
            [(at(REF, 1_000), OK), (at(REF, 1_000), DUPLICATE), (at(REF, 1_001), OK)],
            id="same_time_prices_and_liquidity_is_duplicate",
        ),
        pytest.param(
            QualityPolicy(),
            [(at(REF, 1_000), OK), (at(REF, 1_000, liquidity=2_000_000), OK)],
            id="different_liquidity_is_not_a_duplicate",
        ),
        pytest.param(
            QualityPolicy(),
            [(at(REF, 1_000), OK), (at(REF, 1_000, age_ms=5), DUPLICATE)],
            id="duplicate_ignores_receive_time",
        ),
        pytest.param(
            QualityPolicy(),
            [(at(REF, 1_000), OK), (at(REF, 1_000, tradeable=False), OK)],
            id="same_quote_turning_non_tradeable_is_not_a_duplicate",
        ),
        pytest.param(
            QualityPolicy(),
            [(at(("1.09190", "1.09180"), 5_000), CROSSED), (at(REF, 3_000), OK)],
            id="rejected_quote_is_not_remembered_for_ordering",
        ),
        pytest.param(
            QualityPolicy(),
            [
                (at(REF, 1_000), OK),
                (at(REF, 1_000, instrument="GBP_USD"), OK),
                (at(REF, 500, instrument="USD_CHF"), OK),
            ],
            id="state_is_per_instrument",
        ),
        pytest.param(
            QualityPolicy(),
            [(at(REF, 2_000, source="a"), OK), (at(REF, 1_000, source="b"), OK), (at(REF, 2_000, source="b"), OK)],
            id="order_and_duplicates_are_per_source",
        ),
        pytest.param(
            QualityPolicy(),
            [(at(REF, 0, source="a"), OK), (at(SPIKE, 100, source="b"), OK), (at(NEAR, 200, source="a"), OK)],
            id="jump_reference_is_per_source",
        ),
    ],
)
def test_sequence_of_quotes_is_judged_against_the_last_accepted_one(
    policy: QualityPolicy, steps: list[tuple[Quote, int | None]]
) -> None:
    gate = QualityGate(policy)
    assert reasons(gate, [quote for quote, _ in steps]) == [expected for _, expected in steps]


def test_out_of_order_detail_says_by_how_much() -> None:
    gate = QualityGate(QualityPolicy())
    assert gate.check(at(REF, 2_000)) is None
    rejection = gate.check(at(NEAR, 1_000))
    assert rejection is not None
    assert rejection.detail == "EUR_USD: broker time 1000.000 ms older than the previous accepted tick"


def test_duplicate_detail_names_the_instrument() -> None:
    gate = QualityGate(QualityPolicy())
    assert gate.check(tick()) is None
    rejection = gate.check(tick())
    assert rejection is not None
    assert rejection.detail == "EUR_USD: same time, prices and liquidity as the previous tick"


def test_single_spike_is_rejected_as_price_jump_and_the_next_normal_quote_accepted() -> None:
    gate = QualityGate(QualityPolicy())
    assert gate.check(at(REF, 0)) is None
    rejection = gate.check(at(SPIKE, 250))
    assert rejection is not None
    assert rejection.reason == JUMP
    assert rejection.detail == (
        "EUR_USD: mid 1.10675 moved 150.0 pips from 1.09175 (limit 100); 1 of 3 ticks needed to confirm a move"
    )
    assert gate.check(at(NEAR, 500)) is None


@pytest.mark.parametrize("confirm_ticks", [2, 3, 5])
def test_real_move_is_accepted_after_jump_confirm_ticks_agreeing_quotes(confirm_ticks: int) -> None:
    gate = QualityGate(QualityPolicy(jump_confirm_ticks=confirm_ticks))
    moved = [SPIKE, SPIKE_2, SPIKE_3, SPIKE_2, SPIKE][:confirm_ticks]
    steps = [at(REF, 0)] + [at(prices, 250 * (i + 1)) for i, prices in enumerate(moved)]
    assert reasons(gate, steps) == [OK] + [JUMP] * (confirm_ticks - 1) + [OK]
    # the confirming quote became the reference: the new level is normal, the old one is now a jump
    assert gate.check(at(SPIKE, 5_000)) is None
    back = gate.check(at(REF, 5_250))
    assert back is not None
    assert back.reason == JUMP
    assert f"1 of {confirm_ticks} ticks" in back.detail


def test_jump_details_count_the_confirming_quotes() -> None:
    gate = QualityGate(QualityPolicy(jump_confirm_ticks=3))
    gate.check(at(REF, 0))
    first = gate.check(at(SPIKE, 100))
    second = gate.check(at(SPIKE_2, 200))
    assert first is not None and second is not None
    assert "1 of 3 ticks needed" in first.detail
    assert "2 of 3 ticks needed" in second.detail
    assert "moved 152.0 pips" in second.detail


@pytest.mark.parametrize(
    "spikes",
    [
        pytest.param([SPIKE, DIP, SPIKE, DIP, SPIKE, DIP], id="alternating_up_and_down"),
        pytest.param([SPIKE, NEAR, SPIKE, NEAR, SPIKE], id="interrupted_by_normal_quotes"),
    ],
)
def test_inconsistent_spikes_do_not_confirm_each_other(spikes: list[tuple[str, str]]) -> None:
    gate = QualityGate(QualityPolicy(jump_confirm_ticks=3))
    assert gate.check(at(REF, 0)) is None
    for i, prices in enumerate(spikes):
        result = gate.check(at(prices, 100 * (i + 1)))
        if prices is NEAR:
            assert result is None
        else:
            assert result is not None
            assert result.reason == JUMP
            assert "1 of 3 ticks needed" in result.detail


@pytest.mark.parametrize(
    ("gap_ms", "expected"),
    [
        pytest.param(1_000, JUMP, id="short_gap_is_a_spike"),
        pytest.param(59_999, JUMP, id="just_under_the_reset"),
        pytest.param(60_000, OK, id="exactly_the_reset"),
        pytest.param(3_600_000, OK, id="hour_long_gap"),
    ],
)
def test_jump_after_a_gap_longer_than_the_reset_is_accepted_at_once(gap_ms: int, expected: int | None) -> None:
    gate = QualityGate(QualityPolicy(jump_reset_after_ms=60_000))
    assert reasons(gate, [at(REF, 0), at(SPIKE, gap_ms)]) == [OK, expected]


def test_rejected_spikes_do_not_refresh_the_reference_time() -> None:
    gate = QualityGate(QualityPolicy(jump_reset_after_ms=60_000, jump_confirm_ticks=10))
    assert reasons(gate, [at(REF, 0), at(SPIKE, 30_000), at(SPIKE, 60_001)]) == [OK, JUMP, OK]


@pytest.mark.parametrize(
    ("instrument", "reference", "moved", "expected"),
    [
        pytest.param("USD_JPY", ("150.000", "150.010"), ("150.500", "150.510"), OK, id="jpy_50_pips_is_normal"),
        pytest.param("USD_JPY", ("150.000", "150.010"), ("151.500", "151.510"), JUMP, id="jpy_150_pips_is_a_jump"),
        pytest.param("EUR_USD", REF, ("1.10170", "1.10180"), OK, id="exactly_100_pips_is_normal"),
        pytest.param("EUR_USD", REF, ("1.10171", "1.10181"), JUMP, id="just_over_100_pips_is_a_jump"),
    ],
)
def test_jump_limit_is_in_pips_of_the_instrument(
    instrument: str, reference: tuple[str, str], moved: tuple[str, str], expected: int | None
) -> None:
    gate = QualityGate(QualityPolicy())
    steps = [at(reference, 0, instrument=instrument), at(moved, 100, instrument=instrument)]
    assert reasons(gate, steps) == [OK, expected]


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        pytest.param(at(REF, 0, tradeable=False, age_ms=3_600_000), OK, id="stale_allowed_when_market_closed"),
        pytest.param(at(("1.0900", "1.0950"), 0, tradeable=False), OK, id="wide_spread_allowed_when_market_closed"),
        pytest.param(at(("1.09190", "1.09180"), 0, tradeable=False), CROSSED, id="crossed_still_rejected"),
        pytest.param(at(("1.09180", "1.09180"), 0, tradeable=False), LOCKED, id="locked_still_rejected"),
        pytest.param(at(("0", "1.09180"), 0, tradeable=False), BAD_VALUE, id="bad_value_still_rejected"),
        pytest.param(at(REF, 0, tradeable=False, age_ms=-5_000), FUTURE, id="future_time_still_rejected"),
        pytest.param(
            at(REF, 0, tradeable=False, instrument="XAU_USD"), UNKNOWN, id="unknown_instrument_still_rejected"
        ),
    ],
)
def test_non_tradeable_quote_skips_stale_and_spread_but_not_the_other_checks(
    quote: Quote, expected: int | None
) -> None:
    assert reasons(QualityGate(QualityPolicy()), [quote]) == [expected]


@pytest.mark.parametrize(
    ("steps"),
    [
        pytest.param(
            [(at(REF, 0), OK), (at(SPIKE, 100, tradeable=False), OK), (at(NEAR, 200), OK)],
            id="far_non_tradeable_quote_is_passed_on_and_does_not_move_the_reference",
        ),
        pytest.param(
            [(at(REF, 0), OK), (at(SPIKE, 100, tradeable=False), OK), (at(SPIKE, 200), JUMP)],
            id="tradeable_quote_at_the_non_tradeable_level_is_still_a_jump",
        ),
        pytest.param(
            [(at(REF, 1_000), OK), (at(NEAR, 500, tradeable=False), OUT_OF_ORDER)],
            id="out_of_order_still_rejected",
        ),
        pytest.param(
            [(at(REF, 1_000, tradeable=False), OK), (at(REF, 1_000, tradeable=False), DUPLICATE)],
            id="duplicate_still_rejected",
        ),
        pytest.param(
            [(at(REF, 0), OK), (at(SPIKE, 100), JUMP), (at(SPIKE, 200, tradeable=False), OK), (at(SPIKE, 300), JUMP)],
            id="non_tradeable_quote_does_not_confirm_a_move",
        ),
    ],
)
def test_non_tradeable_quotes_never_move_the_jump_reference(steps: list[tuple[Quote, int | None]]) -> None:
    gate = QualityGate(QualityPolicy(jump_confirm_ticks=3))
    assert reasons(gate, [quote for quote, _ in steps]) == [expected for _, expected in steps]


@pytest.mark.parametrize(
    ("quote", "expected", "detail"),
    [
        pytest.param(tick("1900.10", "1900.30", instrument="XAU_USD"), OK, "", id="within_20_configured_pips"),
        pytest.param(
            tick("1900.10", "1900.40", instrument="XAU_USD"),
            SPREAD,
            "XAU_USD: spread 30.0 pips above the limit 20",
            id="spread_in_configured_pips",
        ),
        pytest.param(
            tick("1900.40", "1900.10", instrument="XAU_USD"),
            CROSSED,
            "XAU_USD: bid 1900.400 above ask 1900.100",
            id="crossed_formatted_to_pipettes",
        ),
    ],
)
def test_configured_pip_makes_a_metal_acceptable(quote: Quote, expected: int | None, detail: str) -> None:
    gate = QualityGate(QualityPolicy(instruments={"XAU_USD": InstrumentLimits(pip_px=parse_price("0.01"))}))
    rejection = gate.check(quote)
    if expected is None:
        assert rejection is None
    else:
        assert rejection is not None
        assert (rejection.reason, rejection.detail) == (expected, detail)


@pytest.mark.parametrize(
    ("steps"),
    [
        pytest.param([(tick("1.09000", "1.09300"), OK)], id="override_allows_30_pip_spread"),
        pytest.param(
            [(tick("1.09000", "1.09300", instrument="GBP_USD"), SPREAD)], id="other_instrument_keeps_the_default"
        ),
        pytest.param([(at(REF, 0), OK), (at(("1.09320", "1.09330"), 100), JUMP)], id="override_jump_of_15_pips"),
        pytest.param(
            [(at(REF, 0, instrument="GBP_USD"), OK), (at(("1.09320", "1.09330"), 100, instrument="GBP_USD"), OK)],
            id="other_instrument_keeps_the_default_jump",
        ),
    ],
)
def test_per_instrument_limits_override_the_policy(steps: list[tuple[Quote, int | None]]) -> None:
    policy = QualityPolicy(instruments={"EUR_USD": InstrumentLimits(max_spread_pips=50.0, max_jump_pips=10.0)})
    gate = QualityGate(policy)
    assert reasons(gate, [quote for quote, _ in steps]) == [expected for _, expected in steps]


def test_overridden_jump_limit_appears_in_the_detail() -> None:
    gate = QualityGate(QualityPolicy(instruments={"EUR_USD": InstrumentLimits(max_jump_pips=10.0)}))
    gate.check(at(REF, 0))
    rejection = gate.check(at(("1.09320", "1.09330"), 100))
    assert rejection is not None
    assert "moved 15.0 pips from 1.09175 (limit 10)" in rejection.detail


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        pytest.param(tick(source="oanda"), OK, id="configured_instrument_of_a_listed_source"),
        pytest.param(tick("150.000", "150.010", instrument="USD_JPY", source="oanda"), UNKNOWN, id="other_instrument"),
        pytest.param(tick("150.000", "150.010", instrument="USD_JPY", source="sim"), OK, id="unlisted_source"),
    ],
)
def test_listed_source_may_only_quote_its_configured_instruments(quote: Quote, expected: int | None) -> None:
    gate = QualityGate(QualityPolicy(), {"oanda": ("EUR_USD", "GBP_USD")})
    rejection = gate.check(quote)
    if expected is None:
        assert rejection is None
    else:
        assert rejection is not None
        assert rejection.reason == expected
        assert rejection.detail == "USD_JPY: not configured for source 'oanda' (configured: EUR_USD, GBP_USD)"


XAU = ("1900.10", "1900.30")  # 20 pips of 0.01


@pytest.mark.parametrize(
    ("pip_px", "steps"),
    [
        pytest.param(
            parse_price("0.01"),
            [
                (tick(*XAU, instrument="XAU_USD"), OK),
                (tick("1900.10", "1900.40", instrument="XAU_USD", at_ms=1), SPREAD),
            ],
            id="broker_pip_0.01_makes_a_metal_acceptable_with_spread_in_its_pips",
        ),
        pytest.param(
            parse_price("0.1"),
            [
                (tick("1900.1", "1901.9", instrument="XAU_USD"), OK),
                (tick("1900.0", "1902.1", instrument="XAU_USD", at_ms=1), SPREAD),
            ],
            id="broker_pip_0.1_widens_the_limit_tenfold",
        ),
        pytest.param(
            parse_price("1"),
            [
                (tick("5000", "5020", instrument="SPX500_USD"), OK),
                (tick("5000", "5021", instrument="SPX500_USD", at_ms=1), SPREAD),
            ],
            id="index_with_broker_pip_1",
        ),
    ],
)
def test_broker_pip_size_makes_an_instrument_without_a_convention_acceptable(
    pip_px: int, steps: list[tuple[Quote, int | None]]
) -> None:
    gate = QualityGate(QualityPolicy())
    instrument = steps[0][0].instrument
    assert gate.set_pip_size(instrument, pip_px) is True
    assert reasons(gate, [quote for quote, _ in steps]) == [expected for _, expected in steps]


def test_instrument_refused_for_want_of_a_pip_is_accepted_once_the_broker_gives_one() -> None:
    gate = QualityGate(QualityPolicy())
    assert reasons(gate, [tick(*XAU, instrument="XAU_USD")]) == [UNKNOWN]
    assert gate.set_pip_size("XAU_USD", parse_price("0.01")) is True
    assert reasons(gate, [tick(*XAU, instrument="XAU_USD", at_ms=1)]) == [OK]


@pytest.mark.parametrize(
    ("configured", "broker", "in_force", "spread", "expected"),
    [
        pytest.param("0.01", "0.01", True, ("1900.10", "1900.30"), OK, id="same_pip_is_in_force"),
        pytest.param("0.01", "0.1", False, ("1900.10", "1900.40"), SPREAD, id="broker_pip_larger_is_ignored"),
        pytest.param("0.01", "0.001", False, ("1900.10", "1900.30"), OK, id="broker_pip_smaller_is_ignored"),
        pytest.param("0.1", "0.01", False, ("1900.0", "1902.0"), OK, id="configured_0.1_stays_against_broker_0.01"),
    ],
)
def test_configured_pip_size_wins_over_the_brokers(
    configured: str, broker: str, in_force: bool, spread: tuple[str, str], expected: int | None
) -> None:
    gate = QualityGate(QualityPolicy(instruments={"XAU_USD": InstrumentLimits(pip_px=parse_price(configured))}))
    assert gate.set_pip_size("XAU_USD", parse_price(broker)) is in_force
    assert reasons(gate, [tick(*spread, instrument="XAU_USD")]) == [expected]


def test_configured_spread_limit_applies_in_the_brokers_pips() -> None:
    gate = QualityGate(QualityPolicy(instruments={"XAU_USD": InstrumentLimits(max_spread_pips=50.0)}))
    assert gate.set_pip_size("XAU_USD", parse_price("0.01")) is True
    assert reasons(gate, [tick("1900.00", "1900.50", instrument="XAU_USD")]) == [OK]
    rejection = gate.check(tick("1900.00", "1900.51", instrument="XAU_USD", at_ms=1))
    assert rejection is not None
    assert (rejection.reason, rejection.detail) == (SPREAD, "XAU_USD: spread 51.0 pips above the limit 50")


@pytest.mark.parametrize(
    ("broker", "in_force", "quote", "expected"),
    [
        pytest.param("0.0001", True, tick("1.09000", "1.09200"), OK, id="broker_agrees_with_the_convention"),
        pytest.param("0.00001", True, tick("1.09000", "1.09021"), SPREAD, id="broker_pip_replaces_the_convention"),
        pytest.param("0.00001", True, tick("1.09000", "1.09020"), OK, id="twenty_broker_pips_at_the_limit"),
    ],
)
def test_broker_pip_size_wins_over_the_currency_pair_convention(
    broker: str, in_force: bool, quote: Quote, expected: int | None
) -> None:
    gate = QualityGate(QualityPolicy())
    assert gate.set_pip_size("EUR_USD", parse_price(broker)) is in_force
    assert reasons(gate, [quote]) == [expected]


def test_existing_tracks_of_every_source_pick_up_a_new_pip_size() -> None:
    gate = QualityGate(QualityPolicy())
    fifteen_pips = ("1.09000", "1.09150")
    assert reasons(gate, [at(fifteen_pips, 0, source="a"), at(fifteen_pips, 0, source="b")]) == [OK, OK]
    assert gate.set_pip_size("EUR_USD", parse_price("0.00001")) is True
    results = [gate.check(at(fifteen_pips, 100, source=source)) for source in ("a", "b")]
    assert [(r.reason, r.detail) if r else None for r in results] == [
        (SPREAD, "EUR_USD: spread 150.0 pips above the limit 20"),
        (SPREAD, "EUR_USD: spread 150.0 pips above the limit 20"),
    ]


def test_new_pip_size_changes_the_jump_limit_of_an_existing_track() -> None:
    gate = QualityGate(QualityPolicy())
    fifteen_pips_up = ("1.09320", "1.09330")
    assert reasons(gate, [at(REF, 0), at(fifteen_pips_up, 100)]) == [OK, OK]
    assert gate.set_pip_size("EUR_USD", parse_price("0.00001")) is True  # 100 pips are now 0.001
    rejection = gate.check(at(REF, 200))
    assert rejection is not None
    assert rejection.reason == JUMP
    assert "mid 1.091750 moved 150.0 pips from 1.093250 (limit 100)" in rejection.detail  # pipettes of 0.00001


def test_new_pip_size_leaves_other_instruments_alone() -> None:
    gate = QualityGate(QualityPolicy())
    assert gate.check(tick("1.25000", "1.25150", instrument="GBP_USD")) is None
    assert gate.set_pip_size("EUR_USD", parse_price("0.00001")) is True
    assert reasons(gate, [tick("1.25000", "1.25150", instrument="GBP_USD", at_ms=1)]) == [OK]


def test_broker_pip_size_does_not_let_a_source_quote_an_instrument_it_is_not_configured_for() -> None:
    gate = QualityGate(QualityPolicy(), {"oanda": ("EUR_USD",)})
    assert gate.set_pip_size("XAU_USD", parse_price("0.01")) is True
    assert reasons(gate, [tick(*XAU, instrument="XAU_USD", source="oanda")]) == [UNKNOWN]
    assert reasons(gate, [tick(*XAU, instrument="XAU_USD", source="other")]) == [OK]


def test_prices_in_details_use_the_brokers_pip_decimals() -> None:
    gate = QualityGate(QualityPolicy())
    gate.set_pip_size("XAU_USD", parse_price("0.01"))
    rejection = gate.check(tick("1900.40", "1900.10", instrument="XAU_USD"))
    assert rejection is not None
    assert (rejection.reason, rejection.detail) == (CROSSED, "XAU_USD: bid 1900.400 above ask 1900.100")


@pytest.mark.parametrize(
    ("steps"),
    [
        pytest.param([(at(REF, 0, age_ms=3_600_000, snapshot=True), OK)], id="old_snapshot_is_not_stale"),
        pytest.param([(at(REF, 0, age_ms=10_001), STALE)], id="same_quote_without_the_flag_is_stale"),
        pytest.param(
            [(at(REF, 0, age_ms=3_600_000, snapshot=True, tradeable=False), OK)], id="old_closed_market_snapshot"
        ),
        pytest.param(
            [(at(REF, 1_000), OK), (at(REF, 1_000, snapshot=True), OK)],
            id="snapshot_repeating_the_last_quote_is_not_a_duplicate",
        ),
        pytest.param(
            [(at(REF, 1_000), OK), (at(REF, 1_000, snapshot=True), OK), (at(REF, 1_000, snapshot=True), OK)],
            id="repeated_snapshots_are_not_duplicates",
        ),
        pytest.param(
            [(at(REF, 1_000, snapshot=True), OK), (at(REF, 1_000), DUPLICATE)],
            id="live_quote_repeating_an_accepted_snapshot_is_a_duplicate",
        ),
        pytest.param(
            [(at(REF, 1_000, tradeable=False), OK), (at(REF, 1_000, tradeable=False, snapshot=True), OK)],
            id="closed_market_snapshot_is_not_a_duplicate",
        ),
        pytest.param(
            [(at(REF, 0), OK), (at(NEAR, 60_000, age_ms=60_000, snapshot=True), OK), (at(NEAR, 60_100), OK)],
            id="old_snapshot_after_a_gap_then_live_quotes",
        ),
        pytest.param(
            [(at(REF, 2_000), OK), (at(NEAR, 1_000, snapshot=True), OUT_OF_ORDER)],
            id="snapshot_older_than_the_last_accepted_is_out_of_order",
        ),
        pytest.param([(at(("1.09190", "1.09180"), 0, snapshot=True), CROSSED)], id="crossed_snapshot"),
        pytest.param([(at(("1.09180", "1.09180"), 0, snapshot=True), LOCKED)], id="locked_snapshot"),
        pytest.param([(at(("0", "1.09180"), 0, snapshot=True), BAD_VALUE)], id="bad_value_snapshot"),
        pytest.param([(at(REF, 0, age_ms=-2_001, snapshot=True), FUTURE)], id="snapshot_from_the_future"),
        pytest.param([(at(("1.09000", "1.09201"), 0, snapshot=True), SPREAD)], id="wide_snapshot"),
        pytest.param(
            [(at(REF, 0, instrument="XAU_USD", snapshot=True), UNKNOWN)], id="snapshot_of_an_unknown_instrument"
        ),
        pytest.param([(at(REF, 0), OK), (at(SPIKE, 100, snapshot=True), JUMP)], id="snapshot_far_away_is_a_jump"),
        pytest.param(
            [(at(REF, 0), OK), (at(SPIKE, 100, age_ms=30_000, snapshot=True), JUMP)],
            id="old_snapshot_far_away_is_still_a_jump",
        ),
    ],
)
def test_snapshot_skips_stale_and_duplicate_but_no_other_check(steps: list[tuple[Quote, int | None]]) -> None:
    gate = QualityGate(QualityPolicy())
    assert reasons(gate, [quote for quote, _ in steps]) == [expected for _, expected in steps]


def test_a_feed_walking_away_just_under_the_limit_per_tick_never_confirms_itself() -> None:
    """Each step is 99 pips (under the 100-pip limit) from the previous one, but the run drifts from its first tick."""
    gate = QualityGate(QualityPolicy(jump_confirm_ticks=3))
    assert gate.check(at(REF, 0)) is None
    mid = parse_price(REF[0])
    results = []
    for step in range(1, 9):
        bid = mid + step * 99 * 100_000 + 100 * 100_000  # the first step is already a jump (199 pips)
        results.append(gate.check(tick(f"{bid / 1e9:.5f}", f"{(bid + 10_000) / 1e9:.5f}", at_ms=100 * step)))
    assert all(result is not None and result.reason == JUMP for result in results)
    # the run restarts whenever it leaves its first tick's limit: it counts 1, 2, 1, 2, ... and never reaches 3
    assert [result.detail.rsplit("; ", 1)[1][:6] for result in results if result is not None] == [
        "1 of 3",
        "2 of 3",
    ] * 4


def test_a_run_within_the_limit_of_its_first_tick_confirms_even_when_it_wanders_inside_it() -> None:
    gate = QualityGate(QualityPolicy(jump_confirm_ticks=3))
    assert gate.check(at(REF, 0)) is None
    first = parse_price(SPIKE[0])
    run = [first, first + 90 * 100_000, first - 90 * 100_000]  # 180 pips apart from each other, 90 from the first
    results = [
        gate.check(tick(f"{bid / 1e9:.5f}", f"{(bid + 10_000) / 1e9:.5f}", at_ms=100 * (i + 1)))
        for i, bid in enumerate(run)
    ]
    assert [None if r is None else r.reason for r in results] == [JUMP, JUMP, OK]


@pytest.mark.parametrize(
    ("limit_pips", "move_pips", "expected"),
    [(100, 100, OK), (100, 100.1, JUMP), (20, 20, OK)],
    ids=["jump_equal_to_the_limit_passes", "jump_over_the_limit", "small_limit_inclusive"],
)
def test_the_jump_limit_is_inclusive(limit_pips: float, move_pips: float, expected: int | None) -> None:
    gate = QualityGate(QualityPolicy(max_jump_pips=limit_pips))
    bid = parse_price(REF[0])
    ask = parse_price(REF[1])
    assert gate.check(at(REF, 0)) is None
    moved = round(move_pips * 100_000)
    assert reasons(gate, [tick(f"{(bid + moved) / 1e9:.6f}", f"{(ask + moved) / 1e9:.6f}", at_ms=100)]) == [expected]


@pytest.mark.parametrize(("received_after_ms", "expected"), [(60_000, OK), (59_999, JUMP)])
def test_the_reset_silence_is_measured_on_receive_times_and_is_inclusive(
    received_after_ms: int, expected: int | None
) -> None:
    """Broker times 10 ms apart, receive times ``received_after_ms`` apart: only the gateway's clock counts."""
    gate = QualityGate(QualityPolicy(jump_reset_after_ms=60_000, max_age_ms=10**9))
    assert gate.check(at(REF, 0, age_ms=1)) is None
    late = at(SPIKE, 10, age_ms=1 + received_after_ms - 10)
    assert reasons(gate, [late]) == [expected]
