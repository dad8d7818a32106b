"""CFTC Commitments of Traders: where large speculators and hedgers are positioned, weekly, per futures market.

Provider facts relied on:

- CFTC's Socrata API ``GET https://publicreporting.cftc.gov/resource/<dataset-id>.json``, one dataset per
  report (:data:`DATASETS`): legacy futures-only ``6dca-aqww``, legacy futures-and-options combined
  ``jun7-fc8e`` (the recorded answer's URL), Traders in Financial Futures (TFF) futures-only ``gpe5-46if`` and
  combined ``yw9f-hn96``. The disaggregated report (``72hh-3qpy``) covers physical commodities, not the
  currency futures this gateway follows, and is not offered.
- SoQL parameters: ``$select`` (only the fields read), ``$where`` (the configured ``contract_market_name``
  values and a window of report dates), ``$order`` and ``$limit``, the last two **always** sent: without
  ``$order`` Socrata's row order is not stable, without ``$limit`` it stops at 1,000 rows. An answer of
  exactly ``$limit`` rows may have lost some and is counted (``limit_reached``). Optional app token in the
  ``X-App-Token`` header (from the environment variable ``app_token_env``): without one Socrata throttles
  requests per IP address (HTTP 429). A query it cannot run is a 400 with ``{"message", "errorCode"}``: a
  refusal naming Socrata's message (:func:`classify_socrata_error`).
- The answer is a JSON array of flat objects. **Every number is a string** (``"19404"``); the report date a
  floating timestamp ``"2024-08-20T00:00:00.000"``; codes carry **trailing spaces** (``"CME "``); a field
  whose value is missing is left out of the row. CFTC's own typos are field names
  (``noncomm_postions_spread_all``). TFF fields mix suffixes: ``dealer_positions_long_all`` but
  ``asset_mgr_positions_long`` and ``lev_money_positions_long`` (verified on a recorded gpe5-46if row and on
  clients that ``$select`` them, which Socrata refuses for an unknown field). ``futonly_or_combined`` says
  the report (``FutOnly`` or ``Combined``); a row of the other one is refused (``wrong_dataset``).
- Reports are as of a Tuesday and published on Friday, later in a week with a US holiday; a late week is just
  a later poll, and nothing checks the weekday. CFTC renames markets at times (``BRITISH POUND STERLING``
  became ``BRITISH POUND`` in 2022) but keeps the contract code.

Items: one :class:`CotReport` per market and report date, ``item_id`` = ``<dataset-id>:<contract code>:<report
date>`` (``6dca-aqww:099741:2024-08-20``): the contract code survives renames, the dataset id keeps
futures-only and combined figures apart. A report is published once; the window re-reads the last
``lookback_weeks`` every poll and change detection publishes only what is new (or, rarely, corrected: an
UPDATED). ``ts_ns`` is 00:00 UTC of the report date. Legacy rows fill the legacy fields (non-commercial and
commercial long, short, spreading; open interest); TFF rows fill ``categories`` (dealer, asset manager,
leveraged funds, other reportable, non-reportable) and open interest.

Checks: contract codes are six letters or digits once trimmed, market names printable and at most
:data:`TEXT_CHARS` characters, positions whole numbers from 0 to :data:`MAX_CONTRACTS`, report dates real
dates from 1986 (the first report on Socrata) to a day after the receive time. A bad row is an
:class:`ItemProblem` (``bad_shape``, ``bad_value``, ``bad_time``, ``wrong_dataset``, ``unrequested_market``,
``duplicate``) and an answer without rows is counted as ``empty`` (every configured market reports weekly,
so none at all means a misspelled or renamed market); an answer that is not a JSON array raises
:class:`MalformedInputError`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, ClassVar, Final, Literal, TypeVar

import msgspec
from pydantic import Field, field_validator

from collectors.external.base import BenchSample
from collectors.polling import (
    HttpRequest,
    HttpResponse,
    PollingCollector,
    PollingConfig,
    SecretParam,
    decode_whole,
    item_problem,
)
from gateway.clock import NS_PER_S, now_ns
from gateway.echo import clip, shown
from gateway.errors import ProviderRefusalError
from gateway.events import ExternalItem, ItemProblem, Parsed
from gateway.schema.market.v1.market_pb2 import CotPositions, CotReport
from gateway.secrets import ENV_NAME_PATTERN

SOCRATA_URL: Final = "https://publicreporting.cftc.gov"
APP_TOKEN_HEADER: Final = "X-App-Token"
MARKET_PATTERN: Final = r"^[A-Z0-9][A-Z0-9 .,&()/'+-]{0,79}$"
"""A CFTC contract market name as configured (``EURO FX``); upper case, as CFTC writes them."""
DEFAULT_MARKETS: Final = (
    "EURO FX",
    "JAPANESE YEN",
    "BRITISH POUND",
    "SWISS FRANC",
    "CANADIAN DOLLAR",
    "AUSTRALIAN DOLLAR",
    "NZ DOLLAR",
    "MEXICAN PESO",
)
"""The CME currency futures, as CFTC names them since 2022."""
MIN_INTERVAL_S: Final = 60.0
"""Floor on the poll interval: reports are weekly; Socrata throttles clients without an app token."""
DEFAULT_INTERVAL_S: Final = 3600.0
DEFAULT_LOOKBACK_WEEKS: Final = 4
MAX_LOOKBACK_WEEKS: Final = 260
MAX_MARKETS: Final = 20
MAX_ROWS: Final = 20_000
"""Largest ``$limit`` asked (and most rows read from one answer): 20 markets over 5 years, twice, is 10,440
rows of about 700 bytes (the ``$select``-ed fields), 7 MB, within the default body cap of 16 MiB."""
ROWS_PER_MARKET_WEEK: Final = 2
"""``$limit`` allows two rows per market and week: a name CFTC gives two contracts still fits."""
MAX_CONTRACTS: Final = 10**12
"""Largest position or open interest accepted; the largest real open interest is about 10^7 contracts."""
TEXT_CHARS: Final = 128
"""Longest market name kept; CFTC's longest are about 80 characters."""
CONTRACT_CODE: Final = re.compile(r"[0-9A-Z]{6}")
COUNT: Final = re.compile(r"-?[0-9]{1,15}")
REPORT_DATE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T00:00:00(?:\.0{1,3})?)?")
EARLIEST_REPORT: Final = date(1986, 1, 1)
FUTURE_SLACK: Final = timedelta(days=1)
ORDER: Final = "report_date_as_yyyy_mm_dd DESC, cftc_contract_market_code ASC"


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CotDataset:
    """One COT report on Socrata: its dataset id, its family (CotReport.dataset) and futonly_or_combined."""

    socrata_id: str
    family: Literal["legacy", "tff"]
    futonly_or_combined: Literal["FutOnly", "Combined"]


DATASETS: Final = {
    "legacy_futures": CotDataset("6dca-aqww", "legacy", "FutOnly"),
    "legacy_combined": CotDataset("jun7-fc8e", "legacy", "Combined"),
    "tff_futures": CotDataset("gpe5-46if", "tff", "FutOnly"),
    "tff_combined": CotDataset("yw9f-hn96", "tff", "Combined"),
}
"""The reports offered (``report`` in the config) and their Socrata datasets."""

Count = str | int
"""Socrata sends numbers as strings; a JSON integer is read the same way."""


class RowHead(msgspec.Struct, kw_only=True):
    """What every COT row has: date, market and the report it belongs to."""

    report_date_as_yyyy_mm_dd: str
    cftc_contract_market_code: str
    open_interest_all: Count
    contract_market_name: str | None = None
    market_and_exchange_names: str | None = None
    futonly_or_combined: str | None = None


class LegacyRow(RowHead):
    """The legacy report's positions: non-commercial (with CFTC's ``postions`` typo) and commercial."""

    noncomm_positions_long_all: Count
    noncomm_positions_short_all: Count
    noncomm_postions_spread_all: Count  # CFTC's spelling
    comm_positions_long_all: Count
    comm_positions_short_all: Count


class TffRow(RowHead):
    """The TFF report's positions per trader category (Socrata's names, ``_all`` or not as it has them)."""

    dealer_positions_long_all: Count
    dealer_positions_short_all: Count
    dealer_positions_spread_all: Count
    asset_mgr_positions_long: Count
    asset_mgr_positions_short: Count
    asset_mgr_positions_spread: Count
    lev_money_positions_long: Count
    lev_money_positions_short: Count
    lev_money_positions_spread: Count
    other_rept_positions_long: Count
    other_rept_positions_short: Count
    other_rept_positions_spread: Count
    nonrept_positions_long_all: Count
    nonrept_positions_short_all: Count


class SocrataError(msgspec.Struct):
    """Socrata's error body (``errorCode`` in SODA 2.1, ``code`` before)."""

    message: str = ""
    errorCode: str | None = None
    code: str | None = None


_decode_rows = msgspec.json.Decoder(list[msgspec.Raw]).decode
_decode_error = msgspec.json.Decoder(SocrataError).decode
SELECTED: Final = {
    "legacy": tuple(LegacyRow.__struct_fields__),
    "tff": tuple(TffRow.__struct_fields__),
}
"""The ``$select`` of each family: the fields the parser reads (a row is about a tenth of all its columns)."""
_decode_legacy = msgspec.json.Decoder(LegacyRow).decode
_decode_tff = msgspec.json.Decoder(TffRow).decode


class _RowError(Exception):
    """A value of one row is not valid; ``reason`` is the ItemProblem reason. Internal to this module."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_rows(
    body: bytes, report: str, recv_ns: int, *, markets: Collection[str] = (), limit: int | None = None
) -> Parsed:
    """The COT reports in a Socrata answer of dataset ``report`` (a key of :data:`DATASETS`).

    ``markets``: the contract market names asked for (empty: any); a row of another market is refused as
    ``unrequested_market``. ``limit``: the ``$limit`` sent; an answer that long is counted as
    ``limit_reached``. Raises MalformedInputError when the body is not a JSON array (an HTML page, a
    truncated body, a Socrata error object).
    """
    dataset = DATASETS[report]
    rows = decode_whole(_decode_rows, body, f"Socrata {dataset.socrata_id}")
    parsed = Parsed(items=[], problems=[])
    if not rows:
        parsed.problems.append(
            ItemProblem("empty", f"no {report} rows in the window: are the market names CFTC's current ones?")
        )
    if limit is not None and len(rows) >= limit:
        parsed.problems.append(
            ItemProblem("limit_reached", f"{len(rows):,} rows = $limit: older reports of the window may be missing")
        )
    if len(rows) > MAX_ROWS:
        parsed.problems.append(ItemProblem("too_many_rows", f"{len(rows):,} rows, the first {MAX_ROWS:,} read"))
    wanted = frozenset(markets)
    seen: set[str] = set()
    for raw in rows[:MAX_ROWS]:
        row_bytes = bytes(raw)
        try:
            item = _report(row_bytes, dataset, recv_ns, wanted)
        except msgspec.ValidationError as exc:
            parsed.problems.append(item_problem("bad_shape", f"COT row: {exc}", row_bytes))
            continue
        except msgspec.DecodeError as exc:
            parsed.problems.append(item_problem("bad_encoding", f"COT row: {exc}", row_bytes))
            continue
        except _RowError as exc:
            parsed.problems.append(item_problem(exc.reason, f"COT row: {exc}", row_bytes))
            continue
        if item.item_id in seen:
            parsed.problems.append(item_problem("duplicate", f"a second row for {item.item_id}", row_bytes))
            continue
        seen.add(item.item_id)
        parsed.items.append(item)
    return parsed


def _report(row_bytes: bytes, dataset: CotDataset, recv_ns: int, wanted: frozenset[str]) -> ExternalItem:
    row: RowHead = _decode_legacy(row_bytes) if dataset.family == "legacy" else _decode_tff(row_bytes)
    report_date = _report_date(row.report_date_as_yyyy_mm_dd, recv_ns)
    code = row.cftc_contract_market_code.strip()
    if CONTRACT_CODE.fullmatch(code) is None:
        raise _RowError("bad_value", f"contract code {shown(row.cftc_contract_market_code)} is not 6 letters or digits")
    market = _market(row)
    if wanted and market not in wanted:
        raise _RowError("unrequested_market", f"market {shown(market)} was not asked for")
    kind = row.futonly_or_combined
    if kind is not None and kind.strip() != dataset.futonly_or_combined:
        raise _RowError("wrong_dataset", f"a {shown(kind)} row in the {dataset.futonly_or_combined} report")
    payload = CotReport(
        market=market,
        report_date=report_date.isoformat(),
        open_interest=_count(row.open_interest_all, "open_interest_all"),
        dataset=dataset.family,
        contract_code=code,
    )
    if isinstance(row, LegacyRow):
        payload.noncommercial_long = _count(row.noncomm_positions_long_all, "noncomm_positions_long_all")
        payload.noncommercial_short = _count(row.noncomm_positions_short_all, "noncomm_positions_short_all")
        payload.noncommercial_spreading = _count(row.noncomm_postions_spread_all, "noncomm_postions_spread_all")
        payload.commercial_long = _count(row.comm_positions_long_all, "comm_positions_long_all")
        payload.commercial_short = _count(row.comm_positions_short_all, "comm_positions_short_all")
    elif isinstance(row, TffRow):
        payload.categories.extend(_tff_categories(row))
    ts_ns = int(datetime(report_date.year, report_date.month, report_date.day, tzinfo=UTC).timestamp()) * NS_PER_S
    return ExternalItem(item_id=f"{dataset.socrata_id}:{code}:{report_date.isoformat()}", ts_ns=ts_ns, payload=payload)


def _tff_categories(row: TffRow) -> list[CotPositions]:
    """The TFF trader categories; non-reportable positions have no spreading."""
    return [
        CotPositions(
            category="dealer",
            long=_count(row.dealer_positions_long_all, "dealer_positions_long_all"),
            short=_count(row.dealer_positions_short_all, "dealer_positions_short_all"),
            spreading=_count(row.dealer_positions_spread_all, "dealer_positions_spread_all"),
        ),
        CotPositions(
            category="asset_manager",
            long=_count(row.asset_mgr_positions_long, "asset_mgr_positions_long"),
            short=_count(row.asset_mgr_positions_short, "asset_mgr_positions_short"),
            spreading=_count(row.asset_mgr_positions_spread, "asset_mgr_positions_spread"),
        ),
        CotPositions(
            category="leveraged_funds",
            long=_count(row.lev_money_positions_long, "lev_money_positions_long"),
            short=_count(row.lev_money_positions_short, "lev_money_positions_short"),
            spreading=_count(row.lev_money_positions_spread, "lev_money_positions_spread"),
        ),
        CotPositions(
            category="other_reportable",
            long=_count(row.other_rept_positions_long, "other_rept_positions_long"),
            short=_count(row.other_rept_positions_short, "other_rept_positions_short"),
            spreading=_count(row.other_rept_positions_spread, "other_rept_positions_spread"),
        ),
        CotPositions(
            category="nonreportable",
            long=_count(row.nonrept_positions_long_all, "nonrept_positions_long_all"),
            short=_count(row.nonrept_positions_short_all, "nonrept_positions_short_all"),
        ),
    ]


def _count(value: Count, name: str) -> int:
    """A number of contracts: a string of digits (possibly space-padded) or a JSON integer, 0 to MAX_CONTRACTS."""
    if isinstance(value, str):
        text = value.strip()
        if COUNT.fullmatch(text) is None:
            raise _RowError("bad_value", f"{name} {shown(value)} is not a whole number")
        number = int(text)
    else:
        number = value
    if not 0 <= number <= MAX_CONTRACTS:
        raise _RowError("bad_value", f"{name} {shown(value)} is not from 0 to {MAX_CONTRACTS:.0e} contracts")
    return number


def _report_date(text: str, recv_ns: int) -> date:
    match = REPORT_DATE.fullmatch(text)
    if match is None:
        raise _RowError("bad_time", f"report date {shown(text)} is not YYYY-MM-DD[T00:00:00.000]")
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise _RowError("bad_time", f"report date {shown(text)} is not a date: {exc}") from exc
    latest = datetime.fromtimestamp(recv_ns // NS_PER_S, UTC).date() + FUTURE_SLACK
    if not EARLIEST_REPORT <= day <= latest:
        raise _RowError("bad_time", f"report date {shown(text)} is before 1986 or after the receive time")
    return day


def _market(row: RowHead) -> str:
    """``contract_market_name``, or the part of ``market_and_exchange_names`` before `` - `` when it is absent."""
    name = row.contract_market_name
    if name is None and row.market_and_exchange_names is not None:
        name = row.market_and_exchange_names.split(" - ", 1)[0]
    if name is None:
        raise _RowError("bad_shape", "row without contract_market_name or market_and_exchange_names")
    kept = name.strip()
    if not kept or len(kept) > TEXT_CHARS or not kept.isprintable():
        raise _RowError("bad_value", f"market name {shown(name)} is blank, longer than {TEXT_CHARS} or unprintable")
    return kept


def classify_socrata_error(status: int, body: bytes) -> ProviderRefusalError | None:
    """A 400 with Socrata's error body refuses the query (a market name or field it does not know): ``rejected``
    with Socrata's message. Anything else is judged by its status (None): 401/403 a refused app token, 429 the
    throttle of clients without one."""
    if status != 400:
        return None
    try:
        error = _decode_error(body)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    code = error.errorCode or error.code or "?"
    return ProviderRefusalError(
        f"Socrata refused the query ({shown(code, 60)}): {clip(error.message, 300)}", kind="rejected"
    )


def soql_literal(text: str) -> str:
    """``text`` as a SoQL string literal: in single quotes, a quote inside doubled."""
    return "'" + text.replace("'", "''") + "'"


def row_limit(markets: int, lookback_weeks: int) -> int:
    """The ``$limit`` of a poll: room for every market's reports of the window (and a spare week), twice."""
    return min(markets * (lookback_weeks + 1) * ROWS_PER_MARKET_WEEK, MAX_ROWS)


class CotConfig(PollingConfig):
    """The weekly COT report ``report`` for ``markets`` (CFTC contract market names), over ``lookback_weeks``."""

    kind: Literal["cot"] = "cot"
    min_interval_s: ClassVar[float] = MIN_INTERVAL_S
    host_max_requests: ClassVar[int] = 60
    """Socrata states no fixed number (it throttles clients without an app token); one poll is one request."""
    host_window_s: ClassVar[float] = 60.0
    interval_s: float = Field(default=DEFAULT_INTERVAL_S, gt=0, description="Seconds between polls (before jitter).")
    base_url: str = Field(default=SOCRATA_URL, pattern=r"^https?://[^\s]+$", description="CFTC's Socrata host.")
    report: Literal["legacy_futures", "legacy_combined", "tff_futures", "tff_combined"] = Field(
        default="legacy_futures", description="Which COT report (and so which Socrata dataset) to read."
    )
    markets: tuple[Annotated[str, Field(pattern=MARKET_PATTERN)], ...] = Field(
        default=DEFAULT_MARKETS, min_length=1, max_length=MAX_MARKETS, description="contract_market_name values."
    )
    lookback_weeks: int = Field(
        default=DEFAULT_LOOKBACK_WEEKS, ge=1, le=MAX_LOOKBACK_WEEKS, description="Weeks of reports read per poll."
    )
    app_token_env: str | None = Field(
        default=None, pattern=ENV_NAME_PATTERN, description="Variable holding a Socrata app token (optional)."
    )

    @field_validator("markets")
    @classmethod
    def _unique(cls, markets: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({market for market in markets if markets.count(market) > 1})
        if repeated:
            raise ValueError(f"markets repeated: {', '.join(repeated)}")
        return markets

    @property
    def environment_variables(self) -> tuple[str, ...]:
        return () if self.app_token_env is None else (self.app_token_env,)

    @property
    def dataset(self) -> CotDataset:
        return DATASETS[self.report]

    @property
    def limit(self) -> int:
        """The ``$limit`` of every poll."""
        return row_limit(len(self.markets), self.lookback_weeks)


def soql_request(config: CotConfig, today: date) -> HttpRequest:
    """The request of one poll on ``today`` (UTC): the configured markets' reports of the last lookback weeks."""
    start = today - timedelta(weeks=config.lookback_weeks)
    names = ", ".join(soql_literal(market) for market in config.markets)
    where = f"contract_market_name in ({names}) AND report_date_as_yyyy_mm_dd >= '{start.isoformat()}T00:00:00.000'"
    secrets = () if config.app_token_env is None else (SecretParam("header", APP_TOKEN_HEADER, config.app_token_env),)
    return HttpRequest(
        url=f"{config.base_url.rstrip('/')}/resource/{config.dataset.socrata_id}.json",
        params=(
            ("$select", ",".join(SELECTED[config.dataset.family])),
            ("$where", where),
            ("$order", ORDER),
            ("$limit", str(config.limit)),
        ),
        secrets=secrets,
        label=config.report,
    )


class CotCollector(PollingCollector[CotConfig]):
    """Polls one Socrata COT dataset; one CotReport item per market and report date, published once."""

    kind: ClassVar[str] = "cot"
    payload_field: ClassVar[str] = "cot"
    bench_samples: ClassVar[tuple[BenchSample, ...]] = (
        BenchSample(
            "cftc/socrata_jun7-fc8e_legacy_combined_239747_2024-08-20.json",
            {"report": "legacy_combined", "markets": ["MICRO E-MINI RUSSELL 2000 INDX"]},
        ),
    )

    def requests(self) -> Sequence[HttpRequest]:
        """The poll's one request; its date window ends today (UTC, from the wall clock)."""
        return [soql_request(self.config, datetime.fromtimestamp(now_ns() // NS_PER_S, UTC).date())]

    def parse(self, response: HttpResponse, recv_ns: int) -> Parsed:
        config = self.config
        return parse_rows(response.body, config.report, recv_ns, markets=config.markets, limit=config.limit)

    def classify_error(self, response: HttpResponse) -> ProviderRefusalError | None:
        return classify_socrata_error(response.status, response.body)
