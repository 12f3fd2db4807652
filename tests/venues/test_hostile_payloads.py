"""Structure-aware fuzzing of every recorded fixture of every venue through the spec's parser entry points.

Each JSON fixture under ``tests/fixtures/<venue>/`` is decoded into a tree; every node (each leaf and each
container below the root) is replaced by hostile values (None, lists, dicts, "inf", "nan", -1, 1e30, huge
ints, 900-deep nesting, wrong types) or deleted, and the result goes through the parser the feed would use
(``spec.parse_ws`` for frames; every REST parser of the venue that accepts the unmutated body for REST
fixtures). The contract: the parser returns a list of records that each pass :mod:`liqmap.validation`, or
raises ``ParseError`` (``VenueError`` only for a fixture that is a venue error event). Nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqmap.errors import InvalidRecordError, ParseError, VenueError
from liqmap.types import Instrument, Record
from liqmap.validation import problem
from liqmap.venues._spec import ParseContext, VenueSpec
from liqmap.venues.registry import VENUES, get_spec

FIXTURES = Path(__file__).parents[1] / "fixtures"
RECV = 1_790_000_000_000
DEEP = object()
"""Stands for a 900-deep nested list (spliced into the JSON text: too deep for a recursive encoder)."""
MISSING = object()
HOSTILE: list[Any] = [None, [], {}, [1, 2], {"a": {"b": 1}}, "inf", "-inf", "nan", "Infinity", "", "abc", -1,
                      0, -1.5, 1e30, -1e30, 10**30, 2**64, 1.7e308, True, "1e400", "1" * 400, DEEP, MISSING]

Parser = Callable[[Any], list[Record]]


def fixture_files(venue: str) -> list[Path]:
    return sorted(p for p in (FIXTURES / venue).rglob("*") if p.suffix in (".json", ".txt"))


def instruments_of(spec: VenueSpec) -> dict[str, Instrument]:
    """Contract sizes from the venue's recorded instrument bodies (so contract venues parse at all)."""
    found: dict[str, Instrument] = {}
    snapshot = spec.snapshots.get("instruments")
    if snapshot is None:
        return found
    for path in fixture_files(spec.name):
        try:
            records = snapshot.parse(json.loads(path.read_text()), "", RECV, ParseContext(spec.name))
        except (ParseError, VenueError, ValueError):
            continue
        found.update({r.venue_symbol: r for r in records if isinstance(r, Instrument)})
    return found


def context(spec: VenueSpec, instruments: dict[str, Instrument]) -> ParseContext:
    return ParseContext(spec.name, instruments=dict(instruments))


def entry_points(spec: VenueSpec, path: Path, instruments: dict[str, Instrument]) -> list[tuple[str, Parser]]:
    """The parsers the feed would hand this fixture to. A WS frame -> ``parse_ws`` (raw text); a REST body ->
    each REST parser (history and snapshot) that makes records of the unmutated body for some venue symbol."""
    if "rest" not in path.parts:
        return [("ws", lambda tree: spec.parse_ws(dump(tree), RECV, context(spec, instruments)))]
    body = json.loads(path.read_text())
    symbols = ["", *instruments, *(spec.venue_symbol(s) for s in ("BTC", "ETH", "SOL", "AVAX"))]
    parsers = [(f"history:{k}", h.parse) for k, h in spec.history.items()]
    parsers += [(f"snapshot:{k}", s.parse) for k, s in spec.snapshots.items()]
    found: list[tuple[str, Parser]] = []
    for name, parse in parsers:
        for vsym in dict.fromkeys(symbols):
            try:
                ok = bool(parse(body, vsym, RECV, context(spec, instruments)))
            except (ParseError, VenueError):
                ok = False
            if ok:
                found.append((f"{name}({vsym})", lambda tree, p=parse, v=vsym: p(json.loads(dump(tree)), v, RECV,
                                                                                   context(spec, instruments))))
                break
    if not found:  # no parser makes records of it (an error body): every REST parser must still hold
        found = [(name, lambda tree, p=parse: p(json.loads(dump(tree)), "", RECV, context(spec, instruments)))
                 for name, parse in parsers]
    return found


def load_tree(path: Path) -> Any:
    text = path.read_text()
    try:
        return json.loads(text)
    except ValueError:
        return text  # a text frame such as "pong"


def dump(tree: Any) -> str:
    if isinstance(tree, str) and not tree.startswith(("{", "[")):
        return tree
    return json.dumps(tree, default=_marker).replace('"__DEEP__"', "[" * 900 + "]" * 900)


def _marker(value: object) -> str:
    if value is DEEP:
        return "__DEEP__"
    raise TypeError(type(value).__name__)


def node_paths(tree: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths of every node below the root (containers and leaves)."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, child in items:
        yield (*prefix, key)
        yield from node_paths(child, (*prefix, key))


def copied(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: copied(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [copied(v) for v in tree]
    return tree  # scalars and the DEEP marker (kept by identity)


def mutated(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = copied(tree)
    node = copy
    for key in path[:-1]:
        node = node[key]
    if value is MISSING:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copy


def check(parse: Parser, tree: Any, error_event: bool) -> None:
    """The contract, asserted on one payload."""
    try:
        records = parse(tree)
    except InvalidRecordError as exc:
        assert all(problem(r) is None for r in exc.valid), exc.valid
        return
    except ParseError:
        return
    except VenueError:
        assert error_event, "VenueError from a payload that is not a venue error event"
        return
    assert isinstance(records, list)
    for record in records:
        assert problem(record) is None, (record, problem(record))


def cases(venue: str) -> Iterator[tuple[str, Parser, Any, bool]]:
    spec = get_spec(venue)
    instruments = instruments_of(spec)
    for path in fixture_files(venue):
        tree = load_tree(path)
        for name, parse in entry_points(spec, path, instruments):
            try:
                parse(tree)
                error_event = False
            except VenueError:
                error_event = True
            except ParseError:
                error_event = False
            yield f"{path.relative_to(FIXTURES)} {name}", parse, tree, error_event


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_every_node_of_every_fixture_with_every_hostile_value(venue: str) -> None:
    payloads = 0
    for _label, parse, tree, error_event in cases(venue):
        if not isinstance(tree, (dict, list)):
            continue
        for path in node_paths(tree):
            for value in HOSTILE:
                if value is MISSING and not isinstance(path[-1], str):
                    continue
                check(parse, mutated(tree, path, value), error_event)
                payloads += 1
    assert payloads > 100, f"{venue}: only {payloads} payloads were fuzzed"


ALL_CASES = [case for venue in sorted(VENUES) for case in cases(venue) if isinstance(case[2], (dict, list))]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_several_hostile_mutations_at_once(data: st.DataObject) -> None:
    """Up to 4 mutations combined in one payload, including hypothesis-drawn numbers and text."""
    _label, parse, tree, error_event = data.draw(st.sampled_from(ALL_CASES))
    hostile = st.one_of(st.sampled_from(HOSTILE), st.integers(), st.floats(), st.text(max_size=20),
                        st.lists(st.integers(), max_size=3))
    for _ in range(data.draw(st.integers(1, 4))):
        paths = list(node_paths(tree))
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        value = data.draw(hostile)
        if value is MISSING and not isinstance(path[-1], str):
            continue
        tree = mutated(tree, path, value)
    check(parse, tree, error_event)


def test_the_guard_turns_any_exception_into_parse_error_and_drops_only_invalid_records() -> None:
    """The entry point itself: a parser raising TypeError yields ParseError (payload attached); a parser
    returning one invalid record among valid ones yields InvalidRecordError carrying exactly the valid ones."""
    from liqmap.types import Trade
    from liqmap.venues._spec import guarded

    def crashes(raw: str, ts: int, ctx: ParseContext) -> list[Record]:
        raise TypeError("list indices must be integers")

    with pytest.raises(ParseError) as info:
        guarded(crashes)('{"x": []}', RECV, ParseContext("binance"))
    assert not isinstance(info.value, InvalidRecordError)
    assert info.value.payload == '{"x": []}' and "TypeError" in str(info.value)

    good = [Trade("binance", "BTC", RECV - i, RECV, 60_000.0 + i, 0.1, "buy", str(i)) for i in range(3)]
    bad = Trade("binance", "BTC", RECV, RECV, float("inf"), 0.1, "sell", "x")

    def mixed(raw: str, ts: int, ctx: ParseContext) -> list[Record]:
        return [good[0], bad, good[1], good[2]]

    with pytest.raises(InvalidRecordError) as invalid:
        guarded(mixed)("{}", RECV, ParseContext("binance"))
    assert invalid.value.valid == good
    assert "price=inf is not finite" in str(invalid.value)
    assert guarded(guarded(mixed)) is guarded(mixed) or getattr(guarded(mixed), "__liqmap_guarded__", False)
