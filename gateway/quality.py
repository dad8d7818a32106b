"""Quality gate: accept or reject each quote, with a reason and an explanation.

Pure and synchronous: state is kept per (source, instrument) and all inputs,
including the receive time, arrive in the Quote. Checks, in order:

1. UNKNOWN_INSTRUMENT: the source is not configured for the instrument, or no
   pip size is known for it (see :mod:`gateway.instruments`).
2. BAD_VALUE: a bid or ask that is zero or negative.
3. CROSSED (bid > ask) and LOCKED (bid == ask).
4. FUTURE_TIME: broker time ahead of receipt by more than ``max_future_ms``.
5. STALE: broker time older than ``max_age_ms`` on receipt (tradeable quotes only).
6. OUT_OF_ORDER: broker time older than this source's last accepted quote.
7. DUPLICATE: same broker time, prices and liquidity as the last accepted quote.
8. SPREAD_TOO_WIDE: spread above ``max_spread_pips`` (tradeable quotes only).
9. PRICE_JUMP: mid more than ``max_jump_pips`` from the last accepted mid
   (tradeable quotes only). So that a market that really moved is not locked
   out, a jump is accepted (and becomes the new reference) when either the
   reference was received ``jump_reset_after_ms`` or more before this quote
   (receive times, the gateway's clock: a gap in which the market moved while
   we did not see it; a broker's clock can be wrong), or ``jump_confirm_ticks``
   consecutive rejected ticks all lie within the limit of the FIRST of them (the
   last of them is accepted). Comparing each with the run's first tick, not
   with its predecessor, means a feed walking away by just under the limit per
   tick never confirms itself.

Limits are inclusive: a spread or a move equal to its limit passes; a quote
older than ``max_age_ms`` (strictly) is stale.

A snapshot quote (the first of an instrument on a reopened stream) skips
STALE and DUPLICATE: it is the broker's current state, however old its time,
and repeating the last quote is its purpose.

Pip sizes come from ``quality.instruments.<name>.pip_size`` when configured,
else from the broker (:meth:`QualityGate.set_pip_size`, e.g. OANDA's
``pipLocation``), else from the currency-pair convention.

Non-tradeable quotes (market closed or halted) are passed on with
``tradeable=false`` after checks 1-4, 6 and 7: closed markets quote old prices
and wide spreads legitimately, so staleness, spread and jump do not apply, and
they never move the jump reference. The aggregator takes them as the source
leaving that instrument.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Final

from gateway.clock import NS_PER_MS
from gateway.errors import UnknownInstrumentError
from gateway.events import Quote
from gateway.instruments import default_pip_px
from gateway.prices import PRICE_SCALE, format_price
from gateway.schema.market.v1.market_pb2 import RejectionReason

DEFAULT_MAX_SPREAD_PIPS: Final = 20.0
DEFAULT_MAX_JUMP_PIPS: Final = 100.0
DEFAULT_MAX_AGE_MS: Final = 10_000
DEFAULT_MAX_FUTURE_MS: Final = 2_000
DEFAULT_JUMP_CONFIRM_TICKS: Final = 3
DEFAULT_JUMP_RESET_AFTER_MS: Final = 60_000


@dataclass(frozen=True, slots=True)
class InstrumentLimits:
    """Per-instrument overrides; ``None`` means the policy default."""

    pip_px: int | None = None
    max_spread_pips: float | None = None
    max_jump_pips: float | None = None


@dataclass(frozen=True, slots=True)
class QualityPolicy:
    """Limits of the gate. Times in ms, distances in pips of each instrument."""

    max_spread_pips: float = DEFAULT_MAX_SPREAD_PIPS
    max_jump_pips: float = DEFAULT_MAX_JUMP_PIPS
    max_age_ms: int = DEFAULT_MAX_AGE_MS
    max_future_ms: int = DEFAULT_MAX_FUTURE_MS
    jump_confirm_ticks: int = DEFAULT_JUMP_CONFIRM_TICKS
    jump_reset_after_ms: int = DEFAULT_JUMP_RESET_AFTER_MS
    instruments: Mapping[str, InstrumentLimits] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a tick was refused: a ``RejectionReason`` value and a readable detail."""

    reason: RejectionReason
    detail: str


@dataclass(frozen=True, slots=True)
class _Rules:
    pip_px: int
    max_spread_px: int
    max_jump_sum_px: int  # limit on |(bid+ask) - (ref_bid+ref_ask)|, i.e. twice the mid limit
    decimals: int


class _Track:
    """Limits and last accepted state of one (source, instrument)."""

    __slots__ = ("last", "pending_sums", "ref_recv_ns", "ref_sum", "rules")

    def __init__(self, rules: _Rules) -> None:
        self.rules = rules
        self.last: Quote | None = None
        self.ref_sum = 0
        self.ref_recv_ns = 0
        self.pending_sums: list[int] = []


class QualityGate:
    """Applies a :class:`QualityPolicy`; call :meth:`check` once per tick, in arrival order."""

    __slots__ = (
        "_allowed",
        "_confirm_before",
        "_jump_reset_ns",
        "_max_age_ns",
        "_max_future_ns",
        "_policy",
        "_rules",
        "_tracks",
    )

    def __init__(
        self, policy: QualityPolicy, instruments_by_source: Mapping[str, Collection[str]] | None = None
    ) -> None:
        """``instruments_by_source`` limits each listed source to its configured instruments."""
        self._policy = policy
        self._allowed = {source: frozenset(names) for source, names in (instruments_by_source or {}).items()}
        self._max_age_ns = policy.max_age_ms * NS_PER_MS
        self._max_future_ns = policy.max_future_ms * NS_PER_MS
        self._jump_reset_ns = policy.jump_reset_after_ms * NS_PER_MS
        self._confirm_before = policy.jump_confirm_ticks - 1
        self._rules: dict[str, _Rules | str] = {}
        self._tracks: dict[tuple[str, str], _Track] = {}

    def check(self, quote: Quote) -> Rejection | None:
        """Return None when ``quote`` is accepted (and remembered), else the Rejection."""
        instrument = quote.instrument
        track = self._tracks.get((quote.source, instrument))
        if track is None:
            opened = self._open_track(quote.source, instrument)
            if isinstance(opened, Rejection):
                return opened
            track = opened
        rules = track.rules
        bid = quote.bid_px
        ask = quote.ask_px
        if bid <= 0 or ask <= 0:
            return Rejection(
                RejectionReason.REJECTION_REASON_BAD_VALUE,
                f"{instrument}: non-positive price bid={format_price(bid)} ask={format_price(ask)}",
            )
        if bid >= ask:
            if bid > ask:
                return Rejection(
                    RejectionReason.REJECTION_REASON_CROSSED,
                    f"{instrument}: bid {format_price(bid, rules.decimals)} above ask "
                    f"{format_price(ask, rules.decimals)}",
                )
            return Rejection(
                RejectionReason.REJECTION_REASON_LOCKED,
                f"{instrument}: bid equals ask {format_price(bid, rules.decimals)}",
            )
        event_ns = quote.ts_event_ns
        recv_ns = quote.ts_recv_ns
        age_ns = recv_ns - event_ns
        if -age_ns > self._max_future_ns:
            return Rejection(
                RejectionReason.REJECTION_REASON_FUTURE_TIME,
                f"{instrument}: broker time is {-age_ns / NS_PER_MS:.0f} ms ahead of the gateway clock "
                f"(limit {self._policy.max_future_ms} ms)",
            )
        tradeable = quote.tradeable
        snapshot = quote.snapshot
        if tradeable and age_ns > self._max_age_ns and not snapshot:
            return Rejection(
                RejectionReason.REJECTION_REASON_STALE,
                f"{instrument}: quote is {age_ns / NS_PER_MS:.0f} ms old on receipt "
                f"(limit {self._policy.max_age_ms} ms)",
            )
        last = track.last
        if last is not None:
            last_event_ns = last.ts_event_ns
            if event_ns < last_event_ns:
                return Rejection(
                    RejectionReason.REJECTION_REASON_OUT_OF_ORDER,
                    f"{instrument}: broker time {(last_event_ns - event_ns) / NS_PER_MS:.3f} ms older "
                    f"than the previous accepted tick",
                )
            if (
                event_ns == last_event_ns
                and not snapshot
                and bid == last.bid_px
                and ask == last.ask_px
                and quote.bid_liquidity == last.bid_liquidity
                and quote.ask_liquidity == last.ask_liquidity
                and tradeable == last.tradeable
            ):
                return Rejection(
                    RejectionReason.REJECTION_REASON_DUPLICATE,
                    f"{instrument}: same time, prices and liquidity as the previous tick",
                )
        if tradeable:
            spread = ask - bid
            if spread > rules.max_spread_px:
                return Rejection(
                    RejectionReason.REJECTION_REASON_SPREAD_TOO_WIDE,
                    f"{instrument}: spread {spread / rules.pip_px:.1f} pips above the limit "
                    f"{rules.max_spread_px / rules.pip_px:g}",
                )
            price_sum = bid + ask
            if track.ref_sum and abs(price_sum - track.ref_sum) > rules.max_jump_sum_px:
                rejection = self._judge_jump(track, rules, instrument, price_sum, recv_ns)
                if rejection is not None:
                    return rejection
            if track.pending_sums:
                track.pending_sums.clear()
            track.ref_sum = price_sum
            track.ref_recv_ns = recv_ns
        track.last = quote
        return None

    def _judge_jump(
        self, track: _Track, rules: _Rules, instrument: str, price_sum: int, recv_ns: int
    ) -> Rejection | None:
        if recv_ns - track.ref_recv_ns >= self._jump_reset_ns:
            return None
        limit = rules.max_jump_sum_px
        pending = track.pending_sums
        if pending and abs(price_sum - pending[0]) > limit:  # the run must stay near its first tick
            pending.clear()
        if len(pending) >= self._confirm_before:
            return None
        pending.append(price_sum)
        moved_pips = abs(price_sum - track.ref_sum) / 2 / rules.pip_px
        return Rejection(
            RejectionReason.REJECTION_REASON_PRICE_JUMP,
            f"{instrument}: mid {format_price(price_sum // 2, rules.decimals)} moved {moved_pips:.1f} pips "
            f"from {format_price(track.ref_sum // 2, rules.decimals)} (limit {limit / 2 / rules.pip_px:g}); "
            f"{len(pending)} of {self._confirm_before + 1} ticks needed to confirm a move",
        )

    def pip_px(self, instrument: str) -> int | None:
        """The pip size of ``instrument`` in force (1e-9 units); None before its first quote or when unknown."""
        rules = self._rules.get(instrument)
        return rules.pip_px if isinstance(rules, _Rules) else None

    def set_pip_size(self, instrument: str, pip_px: int) -> bool:
        """Use a broker's pip size for ``instrument`` unless one is configured; True if it is now in force."""
        limits = self._policy.instruments.get(instrument)
        if limits is not None and limits.pip_px is not None:
            return limits.pip_px == pip_px
        rules = self._make_rules(instrument, pip_px)
        self._rules[instrument] = rules
        for (_, track_instrument), track in self._tracks.items():
            if track_instrument == instrument:
                track.rules = rules
        return True

    def _open_track(self, source: str, instrument: str) -> _Track | Rejection:
        """First quote of a (source, instrument): check it may be quoted and resolve its limits."""
        allowed = self._allowed.get(source)
        if allowed is not None and instrument not in allowed:
            return Rejection(
                RejectionReason.REJECTION_REASON_UNKNOWN_INSTRUMENT,
                f"{instrument}: not configured for source {source!r} (configured: {', '.join(sorted(allowed))})",
            )
        rules = self._rules.get(instrument)
        if rules is None:
            rules = self._resolve_rules(instrument)
        if isinstance(rules, str):
            return Rejection(RejectionReason.REJECTION_REASON_UNKNOWN_INSTRUMENT, rules)
        track = self._tracks[(source, instrument)] = _Track(rules)
        return track

    def _resolve_rules(self, instrument: str) -> _Rules | str:
        limits = self._policy.instruments.get(instrument)
        pip_px = limits.pip_px if limits is not None else None
        if pip_px is None:
            try:
                pip_px = default_pip_px(instrument)
            except UnknownInstrumentError as exc:
                rules: _Rules | str = str(exc)
                self._rules[instrument] = rules
                return rules
        rules = self._make_rules(instrument, pip_px)
        self._rules[instrument] = rules
        return rules

    def _make_rules(self, instrument: str, pip_px: int) -> _Rules:
        """Turn pip-denominated limits into integer price units once per instrument."""
        limits = self._policy.instruments.get(instrument) or InstrumentLimits()
        spread_pips = limits.max_spread_pips if limits.max_spread_pips is not None else self._policy.max_spread_pips
        jump_pips = limits.max_jump_pips if limits.max_jump_pips is not None else self._policy.max_jump_pips
        decimals = len(str(PRICE_SCALE // pip_px)) if pip_px < PRICE_SCALE else 0
        return _Rules(
            pip_px=pip_px,
            max_spread_px=round(spread_pips * pip_px),
            max_jump_sum_px=round(2 * jump_pips * pip_px),
            decimals=decimals,
        )
