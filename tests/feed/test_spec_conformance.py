"""Every registered venue honours the VenueSpec contract (liqmap.venues._spec): checked generically."""

from __future__ import annotations

import json

import pytest

from liqmap.errors import ParseError, VenueError
from liqmap.types import MINUTE_MS
from liqmap.venues._spec import ParseContext, VenueSpec
from liqmap.venues.registry import available, get_spec


@pytest.mark.parametrize("name", available())
def test_spec_is_declarative_and_redirectable(name: str) -> None:
    spec = get_spec(name)
    assert isinstance(spec, VenueSpec) and spec.name == name
    assert spec.max_streams_per_connection > 0
    assert MINUTE_MS in spec.kline_intervals
    for kind, channel in spec.channels.items():
        assert channel.kind == kind
        assert channel.endpoint in spec.ws_urls, f"{name}.{kind} lives on an undeclared endpoint"
        arg = channel.render(spec.venue_symbol("BTC"), spec.kline_intervals[MINUTE_MS])
        frames = spec.subscribe([arg])
        assert frames and all(isinstance(f, str) for f in frames)
    for kind, history in spec.history.items():
        assert history.kind == kind and history.max_limit > 0 and history.step_ms > 0
        assert isinstance(history.params(spec.venue_symbol("BTC"), 0, MINUTE_MS, history.max_limit), dict)
    moved = spec.with_urls(rest="http://127.0.0.1:1", ws="ws://127.0.0.1:1")
    assert moved.rest_url == "http://127.0.0.1:1"
    assert all(url.startswith("ws://127.0.0.1:1/") or url == "ws://127.0.0.1:1" for url in moved.ws_urls.values())
    assert spec.rest_url != moved.rest_url  # the original is untouched (frozen)


@pytest.mark.parametrize("name", available())
@pytest.mark.parametrize("garbage", ["", "{", "[]", "null", '{"unexpected": true}', "\x00\x01"])
def test_garbage_is_a_parse_error_or_control_never_a_crash(name: str, garbage: str) -> None:
    spec = get_spec(name)
    try:
        out = spec.parse_ws(garbage, 0, ParseContext(name))
    except (ParseError, VenueError):
        return
    assert out == []  # treated as a control frame


@pytest.mark.parametrize("name", available())
def test_parsers_are_deterministic_for_the_same_context(name: str) -> None:
    spec = get_spec(name)
    frame = json.dumps({"unexpected": [1, 2, 3]})
    results = []
    for _ in range(2):
        try:
            results.append(spec.parse_ws(frame, 1, ParseContext(name)))
        except (ParseError, VenueError) as exc:
            results.append(type(exc).__name__)  # type: ignore[arg-type]
    assert results[0] == results[1]
