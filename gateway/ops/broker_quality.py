"""Broker quality in /health (ms, pips, percent) and /metrics (seconds, ratios): rendered from a snapshot (pure).

The figures and their definitions are gateway.broker_quality's. Label values are configured source ids and
instruments (bounded by sources x instruments; ``cause`` takes three values).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from gateway.aggregator import BestQuote
from gateway.broker_quality import AGE_BUCKETS_S, InstrumentQuality, QualityReport, SourceQuality
from gateway.clock import NS_PER_S
from gateway.prices import PRICE_SCALE, format_price


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _percent(ratio: float | None) -> float | None:
    return None if ratio is None else round(ratio * 100, 2)


def _pips(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _time(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / NS_PER_S, UTC).isoformat(timespec="milliseconds")


def source_document(source: SourceQuality) -> dict[str, Any]:
    """A source's quality figures for /health."""
    return {
        "quote_age_ms": {
            "p50": _ms(source.age_p50_s),
            "p99": _ms(source.age_p99_s),
            "includes_clock_offset": True,
            "negative": source.negative_ages,
        },
        "clock_offset_ms": _ms(source.clock_offset_s),
        "clock_offset_from": source.clock_offset_from,
        "heartbeats": sum(source.heartbeat_bucket_counts),
        "uptime_s": round(source.uptime_seconds, 3),
        "uptime_percent": _percent(source.uptime_ratio),
        "disconnects": source.disconnects,
        "gap_s": round(source.gap_seconds, 3),
        "instruments": {
            instrument: _instrument_document(figures) for instrument, figures in source.instruments.items()
        },
    }


def _instrument_document(figures: InstrumentQuality) -> dict[str, Any]:
    return {
        "ticks": figures.ticks,
        "spread_pips": {
            "time_weighted": _pips(figures.spread_time_weighted_pips),
            "tick_weighted": _pips(figures.spread_pips_sum / figures.spread_ticks) if figures.spread_ticks else None,
            "p50": _pips(figures.spread_p50_pips),
            "p95": _pips(figures.spread_p95_pips),
        },
        "completeness_percent": _percent(figures.completeness),
        "missing_s": {cause: round(seconds, 3) for cause, seconds in figures.missing_seconds.items()},
        "missing_now": figures.missing_now or None,
        "at_best_percent": _percent(figures.at_best),
        "score": None if figures.score is None else round(figures.score, 4),
        "eligible": figures.eligible,
    }


def recommendations_document(report: QualityReport) -> dict[str, Any]:
    """The recommended source per instrument, with the rules it was chosen by."""
    return {
        "window_s": report.window_s,
        "completeness_floor_percent": _percent(report.completeness_floor),
        "instruments": {
            instrument: {
                "source": choice.source,
                "score": None if choice.score is None else round(choice.score, 4),
                "since": _time(choice.since_ns) if choice.since_ns else None,
            }
            for instrument, choice in report.recommendations.items()
        },
    }


def recent_document(report: QualityReport) -> list[dict[str, Any]]:
    """Recent gaps and rejections, newest first."""
    return [
        {
            "time": _time(event.ts_ns),
            "source": event.source,
            "kind": event.kind,
            "instrument": event.instrument or None,
            "seconds": None if event.seconds is None else round(event.seconds, 3),
            "detail": event.detail or None,
        }
        for event in reversed(report.recent)
    ]


def best_document(best: tuple[BestQuote, ...]) -> dict[str, Any]:
    """The best bid and ask of every live instrument and who gives them."""
    return {
        quote.instrument: {
            "bid": format_price(quote.bid_px, _decimals(quote.bid_px, quote.ask_px)),
            "bid_source": quote.bid_source,
            "ask": format_price(quote.ask_px, _decimals(quote.bid_px, quote.ask_px)),
            "ask_source": quote.ask_source,
            "live_sources": quote.live_sources,
            "crossed": quote.crossed,
        }
        for quote in sorted(best, key=lambda quote: quote.instrument)
    }


def _decimals(*prices: int) -> int:
    """Enough decimals for every digit the prices carry (at most 9)."""
    decimals = 0
    for price in prices:
        fraction = price % PRICE_SCALE
        digits = 9
        while digits and fraction % 10 == 0:
            fraction //= 10
            digits -= 1
        decimals = max(decimals, digits)
    return decimals


def metric_families(report: QualityReport) -> list[Metric]:
    """The ``fxgw_quote_*``, ``fxgw_spread_*``, ``fxgw_source_*`` quality and ``fxgw_broker_*`` families."""
    age = HistogramMetricFamily(
        "fxgw_quote_age_seconds",
        "Receive time minus broker event time of accepted quotes (includes the clock offset; negative as 0).",
        labels=["source"],
    )
    heartbeat_age = HistogramMetricFamily(
        "fxgw_heartbeat_age_seconds",
        "Receive time minus broker time of heartbeats (sources that send them; includes the clock offset).",
        labels=["source"],
    )
    negative = CounterMetricFamily(
        "fxgw_quote_age_negative_total", "Accepted quotes stamped after their receipt (clock skew).", labels=["source"]
    )
    offset = GaugeMetricFamily(
        "fxgw_clock_offset_seconds",
        "Smallest quote age over the window: the clock offset plus the smallest delay.",
        labels=["source"],
    )
    up = CounterMetricFamily("fxgw_source_up_seconds_total", "Seconds the source delivered.", labels=["source"])
    disconnects = CounterMetricFamily(
        "fxgw_source_disconnects_total", "DISCONNECTED statuses and collector stops.", labels=["source"]
    )
    gap = CounterMetricFamily(
        "fxgw_source_gap_seconds_total", "Seconds of gaps reported by RECONNECTED statuses.", labels=["source"]
    )
    pair = ["source", "instrument"]
    ticks = CounterMetricFamily("fxgw_instrument_ticks_total", "Accepted ticks.", labels=pair)
    spread_sum = CounterMetricFamily(
        "fxgw_spread_pips_sum_total", "Sum of the spreads of accepted tradeable ticks, in pips.", labels=pair
    )
    spread_ticks = CounterMetricFamily(
        "fxgw_spread_ticks_total", "Accepted tradeable ticks (the divisor of fxgw_spread_pips_sum_total).", labels=pair
    )
    spread_time = CounterMetricFamily(
        "fxgw_spread_pip_seconds_total", "Spread in pips times the seconds it stood.", labels=pair
    )
    quoted = CounterMetricFamily(
        "fxgw_quoted_seconds_total", "Seconds a tradeable quote stood (the divisor of pip_seconds).", labels=pair
    )
    open_time = CounterMetricFamily(
        "fxgw_market_open_seconds_total", "Seconds some source quoted the instrument tradeable.", labels=pair
    )
    missing = CounterMetricFamily(
        "fxgw_missing_seconds_total",
        "Seconds of open market the source missed, by cause.",
        labels=[*pair, "cause"],
    )
    best_bid = CounterMetricFamily("fxgw_best_bid_seconds_total", "Seconds the source was the best bid.", labels=pair)
    best_ask = CounterMetricFamily("fxgw_best_ask_seconds_total", "Seconds the source was the best ask.", labels=pair)
    completeness = GaugeMetricFamily(
        "fxgw_completeness_ratio", "Share of the open market the source quoted, over the window.", labels=pair
    )
    score = GaugeMetricFamily("fxgw_broker_score", "Composite score over the window (0 to 1).", labels=pair)
    recommended = GaugeMetricFamily(
        "fxgw_broker_recommended", "1 for the recommended source of the instrument.", labels=pair
    )
    for source_id, source in report.sources.items():
        age.add_metric([source_id], _cumulative(source.age_bucket_counts), source.age_sum_s)
        if any(source.heartbeat_bucket_counts):
            heartbeat_age.add_metric([source_id], _cumulative(source.heartbeat_bucket_counts), source.heartbeat_sum_s)
        negative.add_metric([source_id], source.negative_ages)
        if source.clock_offset_s is not None:
            offset.add_metric([source_id], source.clock_offset_s)
        up.add_metric([source_id], source.uptime_seconds)
        disconnects.add_metric([source_id], source.disconnects)
        gap.add_metric([source_id], source.gap_seconds)
        for instrument, figures in source.instruments.items():
            labels = [source_id, instrument]
            ticks.add_metric(labels, figures.ticks)
            spread_sum.add_metric(labels, figures.spread_pips_sum)
            spread_ticks.add_metric(labels, figures.spread_ticks)
            spread_time.add_metric(labels, figures.spread_pip_seconds)
            quoted.add_metric(labels, figures.quoted_seconds)
            open_time.add_metric(labels, figures.open_seconds)
            for cause, seconds in figures.missing_seconds.items():
                missing.add_metric([*labels, cause], seconds)
            best_bid.add_metric(labels, figures.best_bid_seconds)
            best_ask.add_metric(labels, figures.best_ask_seconds)
            if figures.completeness is not None:
                completeness.add_metric(labels, figures.completeness)
            if figures.score is not None:
                score.add_metric(labels, figures.score)
            choice = report.recommendations.get(instrument)
            recommended.add_metric(labels, int(choice is not None and choice.source == source_id))
    return [
        age,
        heartbeat_age,
        negative,
        offset,
        up,
        disconnects,
        gap,
        ticks,
        spread_sum,
        spread_ticks,
        spread_time,
        quoted,
        open_time,
        missing,
        best_bid,
        best_ask,
        completeness,
        score,
        recommended,
    ]


def _cumulative(counts: tuple[int, ...]) -> list[tuple[str, float]]:
    """Prometheus histogram buckets (``le``, cumulative count) from per-bucket counts over AGE_BUCKETS_S and +Inf."""
    buckets: list[tuple[str, float]] = []
    cumulative = 0
    for bound, count in zip((*(repr(bound) for bound in AGE_BUCKETS_S), "+Inf"), counts, strict=True):
        cumulative += count
        buckets.append((bound, cumulative))
    return buckets
