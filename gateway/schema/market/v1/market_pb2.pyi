from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RejectionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REJECTION_REASON_UNSPECIFIED: _ClassVar[RejectionReason]
    REJECTION_REASON_MALFORMED: _ClassVar[RejectionReason]
    REJECTION_REASON_BAD_VALUE: _ClassVar[RejectionReason]
    REJECTION_REASON_UNKNOWN_INSTRUMENT: _ClassVar[RejectionReason]
    REJECTION_REASON_CROSSED: _ClassVar[RejectionReason]
    REJECTION_REASON_LOCKED: _ClassVar[RejectionReason]
    REJECTION_REASON_SPREAD_TOO_WIDE: _ClassVar[RejectionReason]
    REJECTION_REASON_PRICE_JUMP: _ClassVar[RejectionReason]
    REJECTION_REASON_DUPLICATE: _ClassVar[RejectionReason]
    REJECTION_REASON_OUT_OF_ORDER: _ClassVar[RejectionReason]
    REJECTION_REASON_STALE: _ClassVar[RejectionReason]
    REJECTION_REASON_FUTURE_TIME: _ClassVar[RejectionReason]
REJECTION_REASON_UNSPECIFIED: RejectionReason
REJECTION_REASON_MALFORMED: RejectionReason
REJECTION_REASON_BAD_VALUE: RejectionReason
REJECTION_REASON_UNKNOWN_INSTRUMENT: RejectionReason
REJECTION_REASON_CROSSED: RejectionReason
REJECTION_REASON_LOCKED: RejectionReason
REJECTION_REASON_SPREAD_TOO_WIDE: RejectionReason
REJECTION_REASON_PRICE_JUMP: RejectionReason
REJECTION_REASON_DUPLICATE: RejectionReason
REJECTION_REASON_OUT_OF_ORDER: RejectionReason
REJECTION_REASON_STALE: RejectionReason
REJECTION_REASON_FUTURE_TIME: RejectionReason

class Tick(_message.Message):
    __slots__ = ("instrument", "source", "bid_px", "ask_px", "bid_liquidity", "ask_liquidity", "ts_event_ns", "ts_recv_ns", "seq", "tradeable", "snapshot")
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    BID_PX_FIELD_NUMBER: _ClassVar[int]
    ASK_PX_FIELD_NUMBER: _ClassVar[int]
    BID_LIQUIDITY_FIELD_NUMBER: _ClassVar[int]
    ASK_LIQUIDITY_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_NS_FIELD_NUMBER: _ClassVar[int]
    TS_RECV_NS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TRADEABLE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    instrument: str
    source: str
    bid_px: int
    ask_px: int
    bid_liquidity: int
    ask_liquidity: int
    ts_event_ns: int
    ts_recv_ns: int
    seq: int
    tradeable: bool
    snapshot: bool
    def __init__(self, instrument: _Optional[str] = ..., source: _Optional[str] = ..., bid_px: _Optional[int] = ..., ask_px: _Optional[int] = ..., bid_liquidity: _Optional[int] = ..., ask_liquidity: _Optional[int] = ..., ts_event_ns: _Optional[int] = ..., ts_recv_ns: _Optional[int] = ..., seq: _Optional[int] = ..., tradeable: _Optional[bool] = ..., snapshot: _Optional[bool] = ...) -> None: ...

class MarketDataStream(_message.Message):
    __slots__ = ("source", "batch_time_ns", "batch_seq", "session_id", "ticks", "best_prices")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    BATCH_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SEQ_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TICKS_FIELD_NUMBER: _ClassVar[int]
    BEST_PRICES_FIELD_NUMBER: _ClassVar[int]
    source: str
    batch_time_ns: int
    batch_seq: int
    session_id: int
    ticks: _containers.RepeatedCompositeFieldContainer[Tick]
    best_prices: _containers.RepeatedCompositeFieldContainer[BestPrice]
    def __init__(self, source: _Optional[str] = ..., batch_time_ns: _Optional[int] = ..., batch_seq: _Optional[int] = ..., session_id: _Optional[int] = ..., ticks: _Optional[_Iterable[_Union[Tick, _Mapping]]] = ..., best_prices: _Optional[_Iterable[_Union[BestPrice, _Mapping]]] = ...) -> None: ...

class BestPrice(_message.Message):
    __slots__ = ("instrument", "bid_px", "bid_source", "ask_px", "ask_source", "live_sources", "ts_ns", "crossed", "tradeable")
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    BID_PX_FIELD_NUMBER: _ClassVar[int]
    BID_SOURCE_FIELD_NUMBER: _ClassVar[int]
    ASK_PX_FIELD_NUMBER: _ClassVar[int]
    ASK_SOURCE_FIELD_NUMBER: _ClassVar[int]
    LIVE_SOURCES_FIELD_NUMBER: _ClassVar[int]
    TS_NS_FIELD_NUMBER: _ClassVar[int]
    CROSSED_FIELD_NUMBER: _ClassVar[int]
    TRADEABLE_FIELD_NUMBER: _ClassVar[int]
    instrument: str
    bid_px: int
    bid_source: str
    ask_px: int
    ask_source: str
    live_sources: int
    ts_ns: int
    crossed: bool
    tradeable: bool
    def __init__(self, instrument: _Optional[str] = ..., bid_px: _Optional[int] = ..., bid_source: _Optional[str] = ..., ask_px: _Optional[int] = ..., ask_source: _Optional[str] = ..., live_sources: _Optional[int] = ..., ts_ns: _Optional[int] = ..., crossed: _Optional[bool] = ..., tradeable: _Optional[bool] = ...) -> None: ...

class QualityRejection(_message.Message):
    __slots__ = ("tick", "reason", "detail", "raw")
    TICK_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    tick: Tick
    reason: RejectionReason
    detail: str
    raw: bytes
    def __init__(self, tick: _Optional[_Union[Tick, _Mapping]] = ..., reason: _Optional[_Union[RejectionReason, str]] = ..., detail: _Optional[str] = ..., raw: _Optional[bytes] = ...) -> None: ...

class SourceStatus(_message.Message):
    __slots__ = ("source", "state", "ts_ns", "gap_ns", "detail", "attempt", "session_id", "seq", "snapshot")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[SourceStatus.State]
        STATE_CONNECTED: _ClassVar[SourceStatus.State]
        STATE_DISCONNECTED: _ClassVar[SourceStatus.State]
        STATE_RECONNECTED: _ClassVar[SourceStatus.State]
        STATE_UNAUTHORIZED: _ClassVar[SourceStatus.State]
        STATE_REJECTED: _ClassVar[SourceStatus.State]
    STATE_UNSPECIFIED: SourceStatus.State
    STATE_CONNECTED: SourceStatus.State
    STATE_DISCONNECTED: SourceStatus.State
    STATE_RECONNECTED: SourceStatus.State
    STATE_UNAUTHORIZED: SourceStatus.State
    STATE_REJECTED: SourceStatus.State
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TS_NS_FIELD_NUMBER: _ClassVar[int]
    GAP_NS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    source: str
    state: SourceStatus.State
    ts_ns: int
    gap_ns: int
    detail: str
    attempt: int
    session_id: int
    seq: int
    snapshot: bool
    def __init__(self, source: _Optional[str] = ..., state: _Optional[_Union[SourceStatus.State, str]] = ..., ts_ns: _Optional[int] = ..., gap_ns: _Optional[int] = ..., detail: _Optional[str] = ..., attempt: _Optional[int] = ..., session_id: _Optional[int] = ..., seq: _Optional[int] = ..., snapshot: _Optional[bool] = ...) -> None: ...

class ExternalData(_message.Message):
    __slots__ = ("type", "source", "ts_ns", "ts_recv_ns", "item_id", "change", "revision", "changes", "session_id", "seq", "economic_event", "indicator", "crypto", "sentiment", "commodity", "session", "news", "cot")
    class Change(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CHANGE_UNSPECIFIED: _ClassVar[ExternalData.Change]
        CHANGE_NEW: _ClassVar[ExternalData.Change]
        CHANGE_UPDATED: _ClassVar[ExternalData.Change]
        CHANGE_CURRENT: _ClassVar[ExternalData.Change]
    CHANGE_UNSPECIFIED: ExternalData.Change
    CHANGE_NEW: ExternalData.Change
    CHANGE_UPDATED: ExternalData.Change
    CHANGE_CURRENT: ExternalData.Change
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TS_NS_FIELD_NUMBER: _ClassVar[int]
    TS_RECV_NS_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ECONOMIC_EVENT_FIELD_NUMBER: _ClassVar[int]
    INDICATOR_FIELD_NUMBER: _ClassVar[int]
    CRYPTO_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    COMMODITY_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    NEWS_FIELD_NUMBER: _ClassVar[int]
    COT_FIELD_NUMBER: _ClassVar[int]
    type: str
    source: str
    ts_ns: int
    ts_recv_ns: int
    item_id: str
    change: ExternalData.Change
    revision: int
    changes: _containers.RepeatedCompositeFieldContainer[FieldChange]
    session_id: int
    seq: int
    economic_event: EconomicEvent
    indicator: IndicatorObservation
    crypto: CryptoQuote
    sentiment: SentimentIndex
    commodity: CommodityQuote
    session: MarketSession
    news: NewsItem
    cot: CotReport
    def __init__(self, type: _Optional[str] = ..., source: _Optional[str] = ..., ts_ns: _Optional[int] = ..., ts_recv_ns: _Optional[int] = ..., item_id: _Optional[str] = ..., change: _Optional[_Union[ExternalData.Change, str]] = ..., revision: _Optional[int] = ..., changes: _Optional[_Iterable[_Union[FieldChange, _Mapping]]] = ..., session_id: _Optional[int] = ..., seq: _Optional[int] = ..., economic_event: _Optional[_Union[EconomicEvent, _Mapping]] = ..., indicator: _Optional[_Union[IndicatorObservation, _Mapping]] = ..., crypto: _Optional[_Union[CryptoQuote, _Mapping]] = ..., sentiment: _Optional[_Union[SentimentIndex, _Mapping]] = ..., commodity: _Optional[_Union[CommodityQuote, _Mapping]] = ..., session: _Optional[_Union[MarketSession, _Mapping]] = ..., news: _Optional[_Union[NewsItem, _Mapping]] = ..., cot: _Optional[_Union[CotReport, _Mapping]] = ...) -> None: ...

class FieldChange(_message.Message):
    __slots__ = ("field", "previous", "current")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    field: str
    previous: str
    current: str
    def __init__(self, field: _Optional[str] = ..., previous: _Optional[str] = ..., current: _Optional[str] = ...) -> None: ...

class EconomicEvent(_message.Message):
    __slots__ = ("country", "currency", "title", "impact", "actual", "forecast", "previous", "all_day", "tentative", "url")
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    IMPACT_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    ALL_DAY_FIELD_NUMBER: _ClassVar[int]
    TENTATIVE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    country: str
    currency: str
    title: str
    impact: str
    actual: str
    forecast: str
    previous: str
    all_day: bool
    tentative: bool
    url: str
    def __init__(self, country: _Optional[str] = ..., currency: _Optional[str] = ..., title: _Optional[str] = ..., impact: _Optional[str] = ..., actual: _Optional[str] = ..., forecast: _Optional[str] = ..., previous: _Optional[str] = ..., all_day: _Optional[bool] = ..., tentative: _Optional[bool] = ..., url: _Optional[str] = ...) -> None: ...

class IndicatorObservation(_message.Message):
    __slots__ = ("series_id", "date", "value", "missing", "units", "realtime_start", "realtime_end")
    SERIES_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    REALTIME_START_FIELD_NUMBER: _ClassVar[int]
    REALTIME_END_FIELD_NUMBER: _ClassVar[int]
    series_id: str
    date: str
    value: float
    missing: bool
    units: str
    realtime_start: str
    realtime_end: str
    def __init__(self, series_id: _Optional[str] = ..., date: _Optional[str] = ..., value: _Optional[float] = ..., missing: _Optional[bool] = ..., units: _Optional[str] = ..., realtime_start: _Optional[str] = ..., realtime_end: _Optional[str] = ...) -> None: ...

class CryptoQuote(_message.Message):
    __slots__ = ("symbol", "price_usd", "volume_24h_usd", "change_24h_pct", "market_cap_usd", "id", "name", "last_updated_ns", "high_24h_usd", "low_24h_usd", "market_cap_rank")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PRICE_USD_FIELD_NUMBER: _ClassVar[int]
    VOLUME_24H_USD_FIELD_NUMBER: _ClassVar[int]
    CHANGE_24H_PCT_FIELD_NUMBER: _ClassVar[int]
    MARKET_CAP_USD_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATED_NS_FIELD_NUMBER: _ClassVar[int]
    HIGH_24H_USD_FIELD_NUMBER: _ClassVar[int]
    LOW_24H_USD_FIELD_NUMBER: _ClassVar[int]
    MARKET_CAP_RANK_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    price_usd: float
    volume_24h_usd: float
    change_24h_pct: float
    market_cap_usd: float
    id: str
    name: str
    last_updated_ns: int
    high_24h_usd: float
    low_24h_usd: float
    market_cap_rank: int
    def __init__(self, symbol: _Optional[str] = ..., price_usd: _Optional[float] = ..., volume_24h_usd: _Optional[float] = ..., change_24h_pct: _Optional[float] = ..., market_cap_usd: _Optional[float] = ..., id: _Optional[str] = ..., name: _Optional[str] = ..., last_updated_ns: _Optional[int] = ..., high_24h_usd: _Optional[float] = ..., low_24h_usd: _Optional[float] = ..., market_cap_rank: _Optional[int] = ...) -> None: ...

class SentimentIndex(_message.Message):
    __slots__ = ("name", "value", "classification", "provider")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    classification: str
    provider: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ..., classification: _Optional[str] = ..., provider: _Optional[str] = ...) -> None: ...

class CommodityQuote(_message.Message):
    __slots__ = ("symbol", "price", "currency", "change_pct", "contract", "exchange", "previous_close", "market_time_ns")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    CHANGE_PCT_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_CLOSE_FIELD_NUMBER: _ClassVar[int]
    MARKET_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    price: float
    currency: str
    change_pct: float
    contract: str
    exchange: str
    previous_close: float
    market_time_ns: int
    def __init__(self, symbol: _Optional[str] = ..., price: _Optional[float] = ..., currency: _Optional[str] = ..., change_pct: _Optional[float] = ..., contract: _Optional[str] = ..., exchange: _Optional[str] = ..., previous_close: _Optional[float] = ..., market_time_ns: _Optional[int] = ...) -> None: ...

class MarketSession(_message.Message):
    __slots__ = ("name", "open", "opens_at_ns", "closes_at_ns", "zone")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    OPENS_AT_NS_FIELD_NUMBER: _ClassVar[int]
    CLOSES_AT_NS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    name: str
    open: bool
    opens_at_ns: int
    closes_at_ns: int
    zone: str
    def __init__(self, name: _Optional[str] = ..., open: _Optional[bool] = ..., opens_at_ns: _Optional[int] = ..., closes_at_ns: _Optional[int] = ..., zone: _Optional[str] = ...) -> None: ...

class NewsItem(_message.Message):
    __slots__ = ("title", "url", "publisher", "instruments", "summary", "published_ns", "guid", "feed", "language")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PUBLISHER_FIELD_NUMBER: _ClassVar[int]
    INSTRUMENTS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_NS_FIELD_NUMBER: _ClassVar[int]
    GUID_FIELD_NUMBER: _ClassVar[int]
    FEED_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    title: str
    url: str
    publisher: str
    instruments: _containers.RepeatedScalarFieldContainer[str]
    summary: str
    published_ns: int
    guid: str
    feed: str
    language: str
    def __init__(self, title: _Optional[str] = ..., url: _Optional[str] = ..., publisher: _Optional[str] = ..., instruments: _Optional[_Iterable[str]] = ..., summary: _Optional[str] = ..., published_ns: _Optional[int] = ..., guid: _Optional[str] = ..., feed: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class CotReport(_message.Message):
    __slots__ = ("market", "report_date", "noncommercial_long", "noncommercial_short", "commercial_long", "commercial_short", "open_interest", "dataset", "contract_code", "noncommercial_spreading", "categories")
    MARKET_FIELD_NUMBER: _ClassVar[int]
    REPORT_DATE_FIELD_NUMBER: _ClassVar[int]
    NONCOMMERCIAL_LONG_FIELD_NUMBER: _ClassVar[int]
    NONCOMMERCIAL_SHORT_FIELD_NUMBER: _ClassVar[int]
    COMMERCIAL_LONG_FIELD_NUMBER: _ClassVar[int]
    COMMERCIAL_SHORT_FIELD_NUMBER: _ClassVar[int]
    OPEN_INTEREST_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_CODE_FIELD_NUMBER: _ClassVar[int]
    NONCOMMERCIAL_SPREADING_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    market: str
    report_date: str
    noncommercial_long: int
    noncommercial_short: int
    commercial_long: int
    commercial_short: int
    open_interest: int
    dataset: str
    contract_code: str
    noncommercial_spreading: int
    categories: _containers.RepeatedCompositeFieldContainer[CotPositions]
    def __init__(self, market: _Optional[str] = ..., report_date: _Optional[str] = ..., noncommercial_long: _Optional[int] = ..., noncommercial_short: _Optional[int] = ..., commercial_long: _Optional[int] = ..., commercial_short: _Optional[int] = ..., open_interest: _Optional[int] = ..., dataset: _Optional[str] = ..., contract_code: _Optional[str] = ..., noncommercial_spreading: _Optional[int] = ..., categories: _Optional[_Iterable[_Union[CotPositions, _Mapping]]] = ...) -> None: ...

class CotPositions(_message.Message):
    __slots__ = ("category", "long", "short", "spreading")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LONG_FIELD_NUMBER: _ClassVar[int]
    SHORT_FIELD_NUMBER: _ClassVar[int]
    SPREADING_FIELD_NUMBER: _ClassVar[int]
    category: str
    long: int
    short: int
    spreading: int
    def __init__(self, category: _Optional[str] = ..., long: _Optional[int] = ..., short: _Optional[int] = ..., spreading: _Optional[int] = ...) -> None: ...
