"""The declarative venue framework: what a venue module declares and how its parsers behave.

A venue module (``liqmap/venues/<name>.py``) is data plus pure functions. It exposes one module-level
``SPEC: VenueSpec`` and nothing in it does I/O. The generic machinery in :mod:`liqmap.feed` (WebSocket
client, REST pager, backfill, collector, mock exchange) reads the spec; no venue quirk lives there.

Registration: add one line to ``liqmap.venues.registry.VENUES`` (``"name": "liqmap.venues.name"``). The
spec declares the venue's instrument names (``instruments=InstrumentNames("{base}USDT")``): the exchange
list (:data:`liqmap.venues.registry.EXCHANGES`) and :func:`liqmap.venues.registry.venue_symbol` read them from the registry.

Parser conventions (every ``parse`` callable below)
---------------------------------------------------
* **Pure and synchronous**: ``(payload, ts_recv, ctx) -> list[Record]``. No ``await``, no logging, no clock,
  no network. The only state is the explicit :class:`ParseContext` (instrument metadata for contract
  sizes, the wanted-symbol filter, and a per-venue ``state`` dict for snapshot+delta merges such as Bybit
  tickers). Same input + same context = same output.
* WebSocket parsers take the **raw frame** (``str | bytes``) and decode it themselves (``json.loads``);
  REST parsers take the **decoded JSON body** plus the venue symbol the request was for.
* **Control frames** (subscribe acks, pongs, welcome/info events) return ``[]``.
* A venue **error event** (e.g. OKX ``{"event":"error"}``) raises :class:`liqmap.errors.VenueError`.
* Anything the parser cannot decode (bad JSON, missing field, unknown side, non-numeric value) raises
  :class:`liqmap.errors.ParseError` carrying the payload. The feed counts it, logs it with the payload and
  skips it; it never reconnects because of it.
* **One entry point, one contract.** Every parser a spec holds (``parse_ws``, each ``RestHistory.parse``
  and ``RestSnapshot.parse``) is wrapped once by :func:`guarded` when the spec is built: whatever else a
  parser raises on a hostile payload (``TypeError`` on a list where an object was expected, ``RecursionError``
  on deep nesting, ``OverflowError`` on ``1e400``...) leaves it as a ``ParseError``, and every record it
  returns passes :func:`liqmap.validation.problem` (finite positive prices, high >= low, plausible ms
  times...). When some records of a payload fail, :class:`~liqmap.errors.InvalidRecordError` carries the
  valid ones in ``.valid`` so the caller stores them. Call the spec's parsers, not the module functions.
* Units are normalised **once, here**: times -> int ms (``ts_event`` from the exchange, ``ts_recv`` passed
  through), sizes -> base coin (contracts x ``ctx.contract_size(venue_symbol)``), notionals -> USD,
  funding -> fraction, liquidation ``side`` -> the liquidated position's side, ``price_kind`` says whether
  the price is a fill/average price or a bankruptcy price. Records carry ``symbol`` (user vocabulary,
  ``canonical()``) and ``venue_symbol``.
* Live bars: only **closed** bars are emitted (the ``bars`` table keeps the first row per key).
* A frame for a symbol outside ``ctx.wanted`` (when set) returns ``[]`` for that item (needed by
  venue-wide channels such as OKX ``liquidation-orders``).

Channels and subscriptions
--------------------------
``Channel.arg`` is the venue's subscription argument as a template: a ``str`` or a ``dict`` of ``str``
whose ``{venue_symbol}``, ``{lower}`` (lower-case venue symbol) and ``{interval}`` placeholders are
filled by :meth:`Channel.render`. ``VenueSpec.subscribe(args)`` turns the rendered args of one
connection into the text frames to send (chunked by the venue's limits). ``Channel.endpoint`` names the
entry of ``VenueSpec.ws_urls`` the channel lives on (OKX candles are on ``business``).

Channel kinds (the logical names used by the collector): ``trades``, ``liquidations``, ``klines``,
``mark`` (mark price + funding), ``funding`` (a separate funding channel; subscribed with ``mark``),
``open_interest``, ``tickers`` (several record types in one channel; used for ``mark`` and
``open_interest`` when the venue has no dedicated channel).

REST
----
``RestHistory`` describes one paginated time-series endpoint (klines, open interest, funding). The pager
walks ``[start, end]`` in windows of ``max_limit * step_ms`` so a page never overflows whatever the venue's
sort order, calls ``params(venue_symbol, start_ms, end_ms, limit)`` (both bounds inclusive) and
``parse(body, venue_symbol, ts_recv, ctx)``. ``RestSnapshot`` is a one-shot endpoint (instruments, margin
tiers, current open interest, current mark price) with ``params(venue_symbol)``; ``venue_symbol`` is ""
for venue-wide calls (all instruments). The backfill fetches ``mark`` before ``margin_tiers`` so a tier
parser whose venue quotes tiers in contracts can convert to USD with ``ctx.state["mark"][venue_symbol]``. ``check_response(status, headers, body)``
raises :class:`~liqmap.errors.RateLimitError` (with ``retry_after`` seconds when the venue says) or
:class:`~liqmap.errors.VenueError` for venue error codes hidden in a 200 body; :func:`default_check`
handles the HTTP-level statuses (429/418/403 -> rate limit, Retry-After honoured).

Base URLs are never hard-wired in the machinery: ``spec.with_urls(rest=..., ws={...})`` returns a copy
pointed elsewhere (the mock exchange on 127.0.0.1 in tests).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from liqmap.errors import InvalidRecordError, ParseError, RateLimitError, UnknownSymbolError, VenueError
from liqmap.symbols import canonical
from liqmap.types import Instrument, Record
from liqmap.validation import split_valid

ChannelKind = Literal["trades", "liquidations", "klines", "mark", "funding", "open_interest", "tickers"]
HistoryKind = Literal["klines", "open_interest", "funding"]
SnapshotKind = Literal["instruments", "margin_tiers", "open_interest", "mark"]

ArgTemplate = str | Mapping[str, str]
WsParser = Callable[[str | bytes, int, "ParseContext"], list[Record]]
RestParser = Callable[[Any, str, int, "ParseContext"], list[Record]]
ResponseCheck = Callable[[int, Mapping[str, str], Any], None]
P = TypeVar("P", bound=Callable[..., list[Record]])


def guarded(parse: P) -> P:
    """``parse`` raising only :class:`ParseError` (or :class:`VenueError` for a venue's error event) and
    returning only records that pass :mod:`liqmap.validation`. Idempotent (a guarded parser is returned
    as is), so ``dataclasses.replace`` on a spec does not wrap twice."""
    if getattr(parse, "__liqmap_guarded__", False):
        return parse

    @functools.wraps(parse)
    def run(payload: Any, *args: Any) -> list[Record]:
        try:
            records = parse(payload, *args)
        except (ParseError, VenueError):
            raise
        except Exception as exc:
            raise ParseError(f"{getattr(parse, '__qualname__', 'parser')}: {type(exc).__name__}: "
                             f"{str(exc)[:200]}", _text(payload)) from exc
        if not isinstance(records, list):
            raise ParseError(f"parser returned {type(records).__name__}, not a list", _text(payload))
        good, bad = split_valid(records)
        if bad:
            raise InvalidRecordError(f"{len(bad)} of {len(records)} records invalid: {bad[0][1]}",
                                     _text(payload), valid=list(good))
        return records

    run.__liqmap_guarded__ = True  # type: ignore[attr-defined]
    return run  # type: ignore[return-value]


@dataclass
class ParseContext:
    """Everything a parser may consult besides the payload. Built by the feed, refreshed explicitly.

    ``instruments`` maps venue symbol -> :class:`Instrument` (contract size, tick size);
    ``wanted`` restricts venue-wide channels to these venue symbols (None = all);
    ``state`` is venue-private merge state (e.g. the last full Bybit ticker per symbol).
    """

    exchange: str
    instruments: dict[str, Instrument] = field(default_factory=dict)
    wanted: frozenset[str] | None = None
    state: dict[str, Any] = field(default_factory=dict)

    def contract_size(self, venue_symbol: str) -> float:
        """Base coin per contract; a ParseError (never a guess) when the instrument is unknown."""
        instrument = self.instruments.get(venue_symbol)
        if instrument is None:
            raise ParseError(
                f"{self.exchange}: no instrument metadata for {venue_symbol}; cannot convert contracts"
            )
        return instrument.contract_size

    def is_wanted(self, venue_symbol: str) -> bool:
        return self.wanted is None or venue_symbol in self.wanted


@dataclass(frozen=True)
class Channel:
    """One WebSocket channel: its logical kind, the venue's subscription argument template, the URL key."""

    kind: ChannelKind
    arg: ArgTemplate
    endpoint: str = "public"
    per_symbol: bool = True

    def render(self, venue_symbol: str = "", interval: str = "") -> str | dict[str, str]:
        values = {"venue_symbol": venue_symbol, "lower": venue_symbol.lower(), "interval": interval}
        if isinstance(self.arg, str):
            return self.arg.format(**values)
        return {key: value.format(**values) for key, value in self.arg.items()}


@dataclass(frozen=True)
class Heartbeat:
    """Keep-alive rules. ``client_ping`` is the text frame we send every ``interval_s`` (None when the
    server pings with protocol frames, which the websockets library answers itself); ``is_pong`` recognises
    the venue's application-level pong; ``stale_after_s``: no frame at all for that long -> reconnect."""

    client_ping: str | None = None
    interval_s: float = 20.0
    stale_after_s: float = 60.0
    pong: str | None = None


@dataclass(frozen=True)
class RestHistory:
    kind: HistoryKind
    path: str
    max_limit: int
    step_ms: int
    params: Callable[[str, int, int, int], dict[str, Any]]
    parse: RestParser
    min_interval_s: float = 0.1
    max_age_ms: int | None = None
    method: Literal["GET", "POST"] = "GET"

    def __post_init__(self) -> None:
        object.__setattr__(self, "parse", guarded(self.parse))


@dataclass(frozen=True)
class RestSnapshot:
    kind: SnapshotKind
    path: str
    params: Callable[[str], dict[str, Any]]
    parse: RestParser
    min_interval_s: float = 0.1
    method: Literal["GET", "POST"] = "GET"

    def __post_init__(self) -> None:
        object.__setattr__(self, "parse", guarded(self.parse))


def default_check(status: int, headers: Mapping[str, str], body: Any) -> None:
    """HTTP-level classification shared by all venues (429/418/403 -> back off; 5xx -> transport)."""
    if status in (418, 429, 403):
        raise RateLimitError(f"HTTP {status}: {str(body)[:200]}", retry_after=retry_after_s(headers))
    if status >= 500:
        from liqmap.errors import TransportError

        raise TransportError(f"HTTP {status}: {str(body)[:200]}")
    if status >= 400:
        raise VenueError(f"HTTP {status}: {str(body)[:200]}", code=status)


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds as the venue sent it (None when absent or not a number); the REST client
    caps it (:func:`liqmap.feed.rest.capped_retry_after`)."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class InstrumentNames:
    """How a venue names the USDT (or USD) linear perpetual of a base asset: ``template`` with ``{base}``
    (``"{base}-USDT-SWAP"``); ``thousand_prefix`` when the venue spells a 1000-multiplied coin with a
    prefix instead (Hyperliquid's ``kPEPE`` is the ``1000PEPE`` of other venues)."""

    template: str
    thousand_prefix: str | None = None

    def __post_init__(self) -> None:
        if "{base}" not in self.template:
            raise ValueError(f"instrument template {self.template!r} has no {{base}}")

    def of(self, base: str) -> str:
        """The instrument name of canonical base asset ``base``.

        >>> InstrumentNames("{base}", thousand_prefix="k").of("1000PEPE"), InstrumentNames("{base}_USDT").of("BTC")
        ('kPEPE', 'BTC_USDT')
        """
        if self.thousand_prefix is not None and base.startswith("1000") and len(base) > 4:
            return self.thousand_prefix + base[4:]
        return self.template.format(base=base)


@dataclass(frozen=True)
class VenueSpec:
    """Everything the generic feed needs to talk to one venue. Pure data + pure functions."""

    name: str
    rest_url: str
    ws_urls: Mapping[str, str]
    channels: Mapping[ChannelKind, Channel]
    subscribe: Callable[[Sequence[str | dict[str, str]]], list[str]]
    parse_ws: WsParser
    heartbeat: Heartbeat
    max_streams_per_connection: int
    kline_intervals: Mapping[int, str]
    """interval_ms -> the venue's spelling ("1m", "1", "1m"...)."""
    history: Mapping[HistoryKind, RestHistory] = field(default_factory=dict)
    snapshots: Mapping[SnapshotKind, RestSnapshot] = field(default_factory=dict)
    check_response: ResponseCheck = default_check
    oi_poll_s: float | None = None
    """When open interest is not pushed on WS, poll ``snapshots["open_interest"]`` this often."""
    capabilities: frozenset[str] = frozenset()
    """Free-form flags, e.g. {"liquidations", "liquidations_sampled", "oi_ws", "tiers_public"}."""
    notes: str = ""
    instruments: InstrumentNames = field(kw_only=True)
    """The venue's instrument names (required: :func:`liqmap.venues.registry.venue_symbol` reads them)."""
    title: str = field(kw_only=True)
    """The venue's own spelling of its name ("OKX", "dYdX"): shown to people and in Coinglass-shaped answers."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "parse_ws", guarded(self.parse_ws))

    def venue_symbol(self, symbol: str) -> str:
        """The venue's instrument name for ``symbol`` (any spelling :func:`canonical` accepts)."""
        return self.instruments.of(canonical(symbol))

    def with_urls(self, rest: str | None = None, ws: Mapping[str, str] | str | None = None) -> VenueSpec:
        """A copy pointed at other base URLs (the mock exchange). ``ws`` as a str replaces every
        endpoint's host part while keeping each endpoint's path."""
        ws_urls = dict(self.ws_urls)
        if isinstance(ws, str):
            from urllib.parse import urlsplit

            ws_urls = {key: ws.rstrip("/") + urlsplit(url).path for key, url in self.ws_urls.items()}
        elif ws is not None:
            ws_urls.update(ws)
        return dataclasses.replace(self, rest_url=(rest or self.rest_url).rstrip("/"), ws_urls=ws_urls)


# -- helpers shared by venue parsers (pure) -------------------------------------------------------


def symbol_of(venue_symbol: str) -> str:
    """User-vocabulary symbol of a venue instrument name (cached: it is on the hot path)."""
    cached = _symbol_cache.get(venue_symbol)
    if cached is not None:
        return cached
    try:
        return _symbol_cache.setdefault(venue_symbol, canonical(venue_symbol))
    except UnknownSymbolError as exc:
        raise ParseError(f"instrument {venue_symbol!r} is not a perpetual liqmap covers: {exc}", venue_symbol) from None


_symbol_cache: dict[str, str] = {}


def num(value: Any, what: str, payload: Any = None) -> float:
    """A float from a venue number/string; ParseError naming the field otherwise."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ParseError(f"field {what!r} is not a number: {value!r}", _text(payload)) from None
    if out != out:  # NaN
        raise ParseError(f"field {what!r} is NaN", _text(payload))
    return out


def ms(value: Any, what: str, payload: Any = None) -> int:
    """Integer milliseconds from a number or numeric string."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            raise ParseError(f"field {what!r} is not a time in ms: {value!r}", _text(payload)) from None


def _text(payload: Any) -> str | bytes | None:
    if payload is None or isinstance(payload, (str, bytes)):
        return payload
    import json

    try:
        return json.dumps(payload)[:2000]
    except Exception:
        try:
            return repr(payload)[:2000]
        except Exception:
            return f"<unprintable {type(payload).__name__}>"



def load_json(raw: str | bytes) -> Any:
    """Decode a frame (orjson when installed: 2-3x faster on the hot path; stdlib json otherwise)."""
    try:
        return _loads(raw)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ParseError(f"not JSON: {exc}", raw) from None


def _stdlib_loads() -> Callable[[Any], Any]:
    import json

    return json.loads


_loads: Callable[[Any], Any]
try:
    from orjson import loads as _orjson_loads

    _loads = _orjson_loads
except ImportError:  # pragma: no cover - orjson is a declared dependency
    _loads = _stdlib_loads()
