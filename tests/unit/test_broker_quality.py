"""Broker quality on constructed timelines: every figure from quotes, statuses and best prices with times passed in."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import pytest

from gateway.aggregator import BestPriceAggregator
from gateway.broker_quality import AGE_BUCKETS_S, BrokerQuality, BrokerQualityPolicy, SourceQuality
from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.config import parse_config
from gateway.errors import ConfigError
from gateway.events import Quote
from gateway.instruments import default_pip_px
from gateway.schema.market.v1.market_pb2 import SourceStatus

T0 = 1_700_000_000 * NS_PER_S
PIP = default_pip_px("EUR_USD")
MID = 108_500 * PIP // 100 * 100
STEP_NS = 100 * NS_PER_MS
POLICY = BrokerQualityPolicy(window_s=60, switch_hold_s=5, stale_after_ms=1000)

# (source, step time) -> quote or None (silent); age and spread in ms and pips
Feed = Callable[[str, int], tuple[float, float] | None]


def quote(source: str, ts_ns: int, age_ms: float, spread_pips: float, instrument: str = "EUR_USD") -> Quote:
    half = round(spread_pips * PIP / 2)
    return Quote(instrument, source, MID - half, MID + half, 1, 1, ts_ns - round(age_ms * NS_PER_MS), ts_ns)


class Timeline:
    """Sources quoting every 100 ms through a real aggregator; observe() every second."""

    def __init__(self, sources: tuple[str, ...] = ("a", "b"), policy: BrokerQualityPolicy = POLICY) -> None:
        self.sources = sources
        self.quality = BrokerQuality(policy, {source: ["EUR_USD"] for source in sources}, default_pip_px)
        self.aggregator = BestPriceAggregator(dict.fromkeys(sources, 0), policy.stale_after_ms)
        self.now_ns = T0
        self.recommended: list[str | None] = []

    def run(self, seconds: float, feed: Feed, delivering: Mapping[str, bool] | None = None) -> None:
        for _ in range(round(seconds * NS_PER_S / STEP_NS)):
            self.now_ns += STEP_NS
            for source in self.sources:
                figures = feed(source, self.now_ns)
                if figures is not None:
                    tick = quote(source, self.now_ns, *figures)
                    self.aggregator.update(tick)
                    self.quality.observe_quote(tick)
            self.aggregator.expire(self.now_ns)
            self.aggregator.changes()
            if (self.now_ns - T0) % NS_PER_S == 0:
                flags = {source: True for source in self.sources} | dict(delivering or {})
                self.quality.observe(self.now_ns, flags, self.aggregator.time_at_best(self.now_ns))
                self.recommended.append(self.quality.report(self.now_ns).recommendations["EUR_USD"].source)

    def figures(self, source: str) -> SourceQuality:
        return self.quality.report(self.now_ns).sources[source]


def same(age_ms: float = 5, spread_pips: float = 1.0) -> Feed:
    return lambda source, ts_ns: (age_ms, spread_pips)


def test_lagging_source_has_older_quotes_and_loses_the_recommendation() -> None:
    timeline = Timeline()
    timeline.run(20, lambda source, ts_ns: (3 if source == "a" else 300, 1.0))
    a, b = timeline.figures("a"), timeline.figures("b")
    assert a.age_p50_s is not None and b.age_p50_s is not None and a.age_p99_s is not None
    assert 0.0025 <= a.age_p50_s <= a.age_p99_s <= 0.005
    assert 0.25 <= b.age_p50_s <= 0.5
    assert a.age_count == b.age_count == 200 and a.age_bucket_counts[2] == 200  # 3 ms: the 5 ms bucket
    assert b.age_sum_s == pytest.approx(200 * 0.3)
    assert a.clock_offset_s == pytest.approx(0.003) and b.clock_offset_s == pytest.approx(0.3)
    assert a.instruments["EUR_USD"].score > b.instruments["EUR_USD"].score  # type: ignore[operator]
    assert set(timeline.recommended) == {"a"}


def test_source_dropped_for_30_s_counts_missing_time_disconnects_and_gap() -> None:
    timeline = Timeline(policy=BrokerQualityPolicy(window_s=300, stale_after_ms=1000))
    timeline.run(30, same())
    timeline.quality.observe_status("b", SourceStatus.STATE_DISCONNECTED, 0, timeline.now_ns)
    timeline.run(30, lambda source, ts_ns: same()(source, ts_ns) if source == "a" else None, {"b": False})
    timeline.quality.observe_status("b", SourceStatus.STATE_RECONNECTED, 30 * NS_PER_S, timeline.now_ns)
    timeline.run(30, same())
    b = timeline.figures("b")
    track = b.instruments["EUR_USD"]
    assert (b.disconnects, b.gap_seconds) == (1, 30.0)
    assert b.uptime_seconds == pytest.approx(60, abs=1) and b.uptime_ratio == pytest.approx(60 / 89, abs=0.02)
    assert track.open_seconds == pytest.approx(89, abs=1)
    assert track.missing_seconds["disconnected"] == pytest.approx(30, abs=1)
    assert track.missing_seconds["stale"] == track.missing_seconds["not_tradeable"] == 0
    assert track.completeness == pytest.approx(59 / 89, abs=0.02)
    assert not track.eligible  # under the 80 % floor: never recommended
    a = timeline.figures("a").instruments["EUR_USD"]
    assert a.completeness == 1.0 and a.eligible
    assert set(timeline.recommended[30:]) == {"a"}
    kinds = [(event.source, event.kind) for event in timeline.quality.report(timeline.now_ns).recent]
    assert ("b", "disconnected") in kinds and ("b", "reconnected") in kinds and ("b", "back") in kinds


def test_silent_source_is_stale_while_others_update() -> None:
    timeline = Timeline()
    timeline.run(10, lambda source, ts_ns: (5, 1.0) if source == "a" or ts_ns - T0 <= 2 * NS_PER_S else None)
    track = timeline.figures("b").instruments["EUR_USD"]
    assert track.missing_seconds["stale"] == pytest.approx(7, abs=1)  # silent after 2 s, stale 1 s later
    assert track.missing_seconds["disconnected"] == 0 and track.ticks == 20


def test_wide_spread_counts_tick_and_time_weighted_and_scores_lower() -> None:
    timeline = Timeline()
    timeline.run(20, lambda source, ts_ns: (5, 1.0 if source == "a" else 3.0))
    a, b = (timeline.figures(source).instruments["EUR_USD"] for source in ("a", "b"))
    assert b.spread_ticks == 200 and b.spread_pips_sum == pytest.approx(600)
    assert b.spread_pip_seconds / b.quoted_seconds == pytest.approx(3.0)
    assert b.quoted_seconds == pytest.approx(19)  # sampled each second from the second observe on
    assert b.spread_time_weighted_pips == pytest.approx(3.0) and a.spread_time_weighted_pips == pytest.approx(1.0)
    assert b.spread_p50_pips == b.spread_p95_pips == pytest.approx(3.0)
    assert a.score is not None and b.score is not None and a.score - b.score > 0.2


def test_time_at_best_goes_to_the_better_price_and_crossed_time_to_nobody() -> None:
    policy = BrokerQualityPolicy(stale_after_ms=60_000)
    quality = BrokerQuality(policy, {"a": ["EUR_USD"], "b": ["EUR_USD"]}, default_pip_px)
    aggregator = BestPriceAggregator({"a": 0, "b": 0}, policy.stale_after_ms)

    def quotes(ts_s: float, **prices: tuple[int, int]) -> None:
        ts_ns = T0 + round(ts_s * NS_PER_S)
        for source, (bid, ask) in prices.items():
            aggregator.update(Quote("EUR_USD", source, MID + bid * PIP, MID + ask * PIP, 1, 1, ts_ns, ts_ns))
        aggregator.changes()

    quotes(0, a=(100, 102), b=(99, 101))  # best bid a, best ask b
    quotes(3, b=(101, 103))  # bid b, ask a
    quotes(4, a=(104, 105))  # a's bid above b's ask: crossed
    quotes(6, b=(99, 106))  # a both
    now_ns = T0 + 10 * NS_PER_S
    at_best = aggregator.time_at_best(now_ns)
    quality.observe(now_ns, {"a": True, "b": True}, at_best)
    report = quality.report(now_ns)
    a, b = (report.sources[source].instruments["EUR_USD"] for source in ("a", "b"))
    assert (a.best_bid_seconds, a.best_ask_seconds) == (7.0, 5.0)  # 0-3 and 6-10; 3-4 and 6-10
    assert (b.best_bid_seconds, b.best_ask_seconds) == (1.0, 3.0)  # 3-4; 0-3
    assert at_best["EUR_USD"].crossed_ns == 2 * NS_PER_S and at_best["EUR_USD"].quoted_ns == 8 * NS_PER_S
    assert a.at_best == pytest.approx(12 / 16) and b.at_best == pytest.approx(4 / 16)
    assert aggregator.time_at_best(now_ns) == at_best  # reading credits nothing


def test_clock_skewed_source_counts_negative_ages_as_zero_and_its_offset_below_zero() -> None:
    timeline = Timeline()
    timeline.run(10, lambda source, ts_ns: (-40 if source == "b" else 5, 1.0))
    b = timeline.figures("b")
    assert b.negative_ages == 100 and b.age_bucket_counts[0] == 100 and b.age_sum_s == 0
    assert b.clock_offset_s == pytest.approx(-0.040)
    assert b.age_p50_s is not None and b.age_p50_s <= AGE_BUCKETS_S[0]
    assert timeline.figures("a").negative_ages == 0


def test_recommendation_needs_a_lead_held_for_the_hold_time_and_does_not_flap() -> None:
    timeline = Timeline(policy=BrokerQualityPolicy(window_s=10, switch_hold_s=5, stale_after_ms=1000))
    timeline.run(10, lambda source, ts_ns: (5, 1.0 if source == "a" else 1.1))
    assert set(timeline.recommended) == {"a"}
    # b becomes clearly better: a's spread triples; a stays recommended until b led for 5 s
    timeline.run(20, lambda source, ts_ns: (5, 3.0 if source == "a" else 1.1))
    switched = timeline.recommended.index("b")
    assert 10 + 5 <= switched < 30 and set(timeline.recommended[switched:]) == {"b"}
    # a comes back to within a hair of b, wobbling: under the lead, so the recommendation stays put
    timeline.run(20, lambda source, ts_ns: (5, 1.1 if source == "b" else 1.12 if (ts_ns // NS_PER_S) % 4 < 2 else 1.2))
    assert set(timeline.recommended[30:]) == {"b"}
    scores = {source: timeline.figures(source).instruments["EUR_USD"].score for source in ("a", "b")}
    assert scores["b"] - scores["a"] > 0  # type: ignore[operator]


def test_no_eligible_source_means_no_recommendation() -> None:
    timeline = Timeline(sources=("a",))
    timeline.run(3, lambda source, ts_ns: None)
    assert timeline.recommended == [None, None, None]
    assert timeline.figures("a").age_p50_s is None and timeline.figures("a").clock_offset_s is None


def test_collector_stop_ends_the_standing_spread_and_counts_a_disconnect() -> None:
    timeline = Timeline()
    timeline.run(5, same(spread_pips=2.0))
    timeline.quality.observe_down("a", timeline.now_ns)
    timeline.run(5, lambda source, ts_ns: same()(source, ts_ns) if source == "b" else None, {"a": False})
    a = timeline.figures("a")
    assert a.disconnects == 1
    assert a.instruments["EUR_USD"].quoted_seconds == pytest.approx(4)  # samples at 2 to 5 s, then nothing stands
    assert a.instruments["EUR_USD"].missing_seconds["disconnected"] == pytest.approx(5, abs=1)


def test_rejections_and_events_are_kept_bounded() -> None:
    quality = BrokerQuality(POLICY)
    for index in range(100):
        quality.observe_rejection("a", "EUR_USD", "REJECTION_REASON_CROSSED", T0 + index)
    recent = quality.report(T0).recent
    assert len(recent) == 20 and recent[-1].detail == "CROSSED" and recent[-1].ts_ns == T0 + 99


def test_config_section_gives_the_policy_and_refuses_bad_values() -> None:
    brokers = [{"id": "sim", "kind": "simulated"}]
    default = parse_config({"brokers": brokers}).broker_quality.to_policy(15_000)
    assert default == BrokerQualityPolicy()
    tuned = parse_config(
        {"brokers": brokers, "broker_quality": {"window_s": 10, "switch_hold_s": 1, "completeness_floor": 0.5}}
    ).broker_quality.to_policy(300)
    assert (tuned.window_s, tuned.switch_hold_s, tuned.completeness_floor, tuned.stale_after_ms) == (10, 1, 0.5, 300)
    for bad, named in (
        ({"weights": {"at_best": 0.9}}, "broker_quality.weights: the weights must sum to 1"),
        ({"window_s": 0}, "broker_quality.window_s"),
        ({"completeness_floor": 1.5}, "broker_quality.completeness_floor"),
        ({"switch_lead": float("nan")}, "broker_quality.switch_lead"),
        ({"windows": 10}, "broker_quality.windows"),
    ):
        with pytest.raises(ConfigError, match=re.escape(named)):
            parse_config({"brokers": brokers, "broker_quality": bad})


def test_heartbeats_give_their_own_ages_and_take_over_the_clock_offset() -> None:
    timeline = Timeline()
    for second in range(1, 4):  # a broker whose clock runs 25 ms ahead: its heartbeats arrive "from the future"
        timeline.quality.observe_heartbeat("b", T0 + second * NS_PER_S + 25 * NS_PER_MS, T0 + second * NS_PER_S)
    timeline.run(5, same(age_ms=5))
    b, a = timeline.figures("b"), timeline.figures("a")
    assert sum(b.heartbeat_bucket_counts) == b.heartbeat_bucket_counts[0] == 3 and b.heartbeat_sum_s == 0
    assert (b.clock_offset_from, b.clock_offset_s) == ("heartbeats", pytest.approx(-0.025))
    assert (a.clock_offset_from, a.clock_offset_s) == ("quotes", pytest.approx(0.005))
    assert sum(a.heartbeat_bucket_counts) == 0
