"""A :class:`ValidationReport` as a readable table (default) or as JSON (``--json``)."""

from __future__ import annotations

import dataclasses
import json

from gateway.clock import format_time_ns
from gateway.prices import format_price
from gateway.validation.compare import Difference, FeedStats, ValidationReport


def report_table(report: ValidationReport) -> str:
    """The report as aligned text lines for people; pips of ``report.pip_px``."""
    ref, src = report.reference, report.source
    lines = [
        f"validate {report.instrument} {format_time_ns(report.since_ns)} .. {format_time_ns(report.until_ns)}",
        f"  reference: {ref.name}",
        f"  source:    {src.name}",
        f"  pip {format_price(report.pip_px, 1)}, grid {report.grid_ms} ms, lag range ±{report.max_lag_ms:,} ms, "
        f"holes > {report.hole_s:g} s",
        "",
        f"{'':28}{'reference':>14}{'source':>14}",
        *(
            f"{label:28}{left:>14}{right:>14}"
            for label, left, right in (
                ("ticks", f"{ref.ticks:,}", f"{src.ticks:,}"),
                ("spread p50 (pips)", f"{ref.spread_p50_pips:.2f}", f"{src.spread_p50_pips:.2f}"),
                ("spread p95 (pips)", f"{ref.spread_p95_pips:.2f}", f"{src.spread_p95_pips:.2f}"),
                ("crossed ticks", f"{ref.crossed:,}", f"{src.crossed:,}"),
                ("locked ticks", f"{ref.locked:,}", f"{src.locked:,}"),
                (
                    f"coverage (of {report.window_minutes:,} min)",
                    f"{ref.coverage:.1%}",
                    f"{src.coverage:.1%}",
                ),
                ("holes not in the other", f"{ref.unshared_holes:,}", f"{src.unshared_holes:,}"),
                ("holes in both", f"{ref.shared_holes:,}", f"{src.shared_holes:,}"),
            )
        ),
        "",
        _lag_line(report),
        "",
        f"{'mid difference (pips)':28}{'mean':>9}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}{'grid times':>12}",
        _difference_line("source - reference, aligned", report.difference),
        _difference_line("source - reference, lag 0", report.unaligned),
    ]
    for feed in (ref, src):
        lines.extend(_hole_lines(feed, "reference" if feed is ref else "source"))
    return "\n".join(lines)


def report_json(report: ValidationReport) -> str:
    """The report as one JSON object: every field of the dataclasses, plus times as RFC 3339 (``since``, ...)."""
    value = dataclasses.asdict(report)
    value["since"] = format_time_ns(report.since_ns)
    value["until"] = format_time_ns(report.until_ns)
    value["lag_sign"] = "positive: the source moves after the reference (lags); negative: it leads"
    for feed in ("reference", "source"):
        for hole in value[feed]["holes"]:
            hole["start"] = format_time_ns(hole["start_ns"])
            hole["end"] = format_time_ns(hole["end_ns"])
    return json.dumps(value, indent=2)


def _lag_line(report: ValidationReport) -> str:
    if report.lag_ms is None or report.lag_correlation is None:
        return "lag: n/a (a feed's mid never changes)"
    if report.lag_ms == 0:
        verdict = "aligned"
    else:
        verdict = f"the source {'lags' if report.lag_ms > 0 else 'leads'} by {abs(report.lag_ms):,} ms"
    return f"lag: {report.lag_ms:+,} ms ({verdict}; correlation of mid changes {report.lag_correlation:.3f})"


def _difference_line(label: str, difference: Difference | None) -> str:
    """Signed mean, then percentiles of the size of the difference."""
    if difference is None:
        return f"{label:28}n/a: no grid time with both feeds live"
    sizes = "".join(f"{value:>9.3f}" for value in (difference.p50, difference.p95, difference.p99, difference.max))
    return f"{label:28}{difference.mean:>+9.3f}{sizes}{difference.points:>12,}"


def _hole_lines(feed: FeedStats, role: str) -> list[str]:
    if not feed.unshared_holes:
        return []
    lines = [f"holes in the {role} only:"]
    lines.extend(
        f"  {format_time_ns(hole.start_ns)} .. {format_time_ns(hole.end_ns)}  {hole.duration_s:,.1f} s, "
        f"{hole.other_ticks:,} ticks in the other"
        for hole in feed.holes
    )
    if feed.unshared_holes > len(feed.holes):
        lines.append(f"  ... and {feed.unshared_holes - len(feed.holes):,} more")
    return lines
