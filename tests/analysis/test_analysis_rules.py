"""Alert rules: validation messages name the field; pure evaluation on hand-built update sequences."""

from __future__ import annotations

import pytest
from analysis_kit import LONG, SHORT, bins, snapshot

from liqmap.analysis.evaluate_rules import StreamState, evaluate, make_update
from liqmap.analysis.rules import parse_rule, parse_rules
from liqmap.errors import ConfigError


def update(long=None, short=None, *, price=100.0, high=None, low=None, ts=0):
    snap = snapshot(bins(LONG if long is None else long, side="long"),
                    bins(SHORT if short is None else short, side="short"), price=price, ts=ts)
    return make_update(snap, exchanges=("binance",), high=high if high is not None else price,
                       low=low if low is not None else price)


def run(rules, updates):
    """Alerts per update (the first is the baseline), state threaded through."""
    state, out = StreamState(), []
    for u in updates:
        alerts, state = evaluate(rules, state, u)
        out.append(alerts)
    return out


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"type": "nope", "symbol": "BTC"}, "type"),
        ({"type": "price_near", "symbol": "BTC"}, "within_pct"),
        ({"type": "price_near", "symbol": "BTC", "within_pct": -1}, "within_pct"),
        ({"type": "price_near", "symbol": "BTC", "within_pct": "1"}, "within_pct"),
        ({"type": "price_near", "symbol": "BTC", "within_pct": 1, "usd": 5}, "usd"),
        ({"type": "cluster_usd", "symbol": "BTC"}, "usd"),
        ({"type": "cluster_usd", "symbol": "BTC", "usd": 1e6, "direction": "sideways"}, "direction"),
        ({"type": "sweep", "symbol": "BTC", "reverse_bars": 2.5}, "reverse_bars"),
        ({"type": "sweep", "symbol": "BTC", "sides": ["up"]}, "sides"),
        ({"type": "sweep", "symbol": "BTC", "exchanges": ["nasdaq"]}, "exchanges"),
        ({"type": "sweep", "symbol": "B$C"}, "symbol"),
        ({"type": "sweep"}, "symbol"),
        ({"type": "sweep", "symbol": "BTC", "notify": ["not a url"]}, "notify"),
        ({"type": "sweep", "symbol": "BTC", "id": "has space"}, "id"),
        ({"type": "sweep", "symbol": "BTC", "cooldown_minutes": -5}, "cooldown_minutes"),
    ],
)
def test_invalid_rules_name_the_field(spec, field) -> None:
    with pytest.raises(ConfigError, match=rf"^{field}:"):
        parse_rule(spec)


def test_rule_normalisation_and_round_trip() -> None:
    rule = parse_rule({"type": "cluster_usd", "symbol": "btcusdt", "usd": 5e6, "exchanges": "Bybit, binance",
                       "sides": ["short"]})
    assert (rule.symbol, rule.exchanges, rule.sides, rule.direction) == ("BTC", ("binance", "bybit"), ("short",), "up")
    assert rule.id.startswith("cluster_usd-btc-")
    assert parse_rule(rule.to_dict()) == rule
    with pytest.raises(ConfigError, match=r"rule #2 \(a\): id: duplicate"):
        parse_rules([{"id": "a", "type": "sweep", "symbol": "BTC"}, {"id": "a", "type": "sweep", "symbol": "ETH"}])


def test_cluster_forms_fires_once_for_the_new_cluster_only() -> None:
    rule = parse_rule({"id": "forms", "type": "cluster_forms", "symbol": "BTC", "within_pct": 3.0})
    grown = {**SHORT, 101.5: 12.0}
    base, first, again = run([rule], [update(), update(short=grown, ts=1), update(short=grown, ts=2)])
    assert base == [] and again == []
    (alert,) = first
    assert (alert.kind, alert.side, alert.level_price, alert.usd, alert.ts) == ("cluster_forms", "short", 101.5, 12.0, 1)
    assert alert.context["cluster"]["distance_pct"] == 1.0


def test_cluster_forms_respects_distance_and_side() -> None:
    far = parse_rule({"id": "f", "type": "cluster_forms", "symbol": "BTC", "within_pct": 0.5})
    longs = parse_rule({"id": "l", "type": "cluster_forms", "symbol": "BTC", "within_pct": 3.0, "sides": ["long"]})
    assert run([far, longs], [update(), update(short={**SHORT, 101.5: 12.0})]) == [[], []]


def test_price_near_is_edge_triggered_with_hysteresis() -> None:
    """Cluster A's near edge is 99.0. Price enters 0.5 % of it (99.4), wobbles out to 99.8 (0.8 %: outside
    the zone but not more than 2 x 0.5 % away) and back: no second alert. Only after leaving by more than
    1 % (101.5) does a new approach alert again."""
    rule = parse_rule({"id": "near", "type": "price_near", "symbol": "BTC", "within_pct": 0.5, "sides": ["long"]})
    prices = [100.0, 99.4, 99.3, 99.8, 99.4, 101.5, 99.4]
    alerts = run([rule], [update(price=p, ts=i) for i, p in enumerate(prices)])
    assert [len(a) for a in alerts] == [0, 1, 0, 0, 0, 0, 1]
    alert = alerts[1][0]
    assert (alert.side, alert.level_price, alert.price) == ("long", 97.5, 99.4)  # A's peak (tie: lower bin)


def test_cluster_usd_crossing_both_ways() -> None:
    up = parse_rule({"id": "up", "type": "cluster_usd", "symbol": "BTC", "usd": 25.0})
    both = parse_rule({"id": "both", "type": "cluster_usd", "symbol": "BTC", "usd": 25.0, "direction": "both"})
    grown = {**LONG, 97.5: 15.0, 98.5: 15.0}
    alerts = run([up, both], [update(), update(long=grown, ts=1), update(ts=2)])
    assert [(a.rule_id, a.context["direction"], a.context["usd_before"], a.usd) for a in alerts[1]] == [
        ("up", "up", 20.0, 30.0), ("both", "up", 20.0, 30.0)
    ]
    assert [(a.rule_id, a.context["direction"]) for a in alerts[2]] == [("both", "down")]
    # a cluster that dissolves entirely crosses down too (its zone keeps the 2 background bins)
    gone = run([up, both], [update(long=grown), update(long={90.5: 8.0}, ts=1)])
    assert [(a.rule_id, a.context["direction"], a.context["usd_before"], a.context["usd_now"]) for a in gone[1]] == [
        ("both", "down", 30.0, 2.0)
    ]


def test_vanish_only_when_price_did_not_touch_the_cluster() -> None:
    rule = parse_rule({"id": "gone", "type": "cluster_vanishes", "symbol": "BTC"})
    without_a = {90.5: 8.0}
    closed = run([rule], [update(), update(long=without_a, low=99.5, ts=1)])
    (alert,) = closed[1]
    assert (alert.kind, alert.side, alert.level_price, alert.usd) == ("cluster_vanishes", "long", 97.5, 20.0)
    assert alert.context["usd_left"] == 2.0  # the background bins left in [97, 99]
    swept = run([rule], [update(), update(long=without_a, low=98.9, ts=1)])
    assert swept[1] == []


def test_sweep_fires_once_per_cluster() -> None:
    rule = parse_rule({"id": "sw", "type": "sweep", "symbol": "BTC", "sides": ["short"]})
    alerts = run([rule], [update(), update(high=104.6, price=101.0, ts=1), update(high=104.9, price=102.0, ts=2)])
    (alert,) = alerts[1]
    assert (alert.kind, alert.level_price, alert.context["extreme"]) == ("sweep", 104.5, 104.6)
    assert alerts[2] == []


def test_sweep_and_reverse_within_n_bars() -> None:
    rule = parse_rule({"id": "sr", "type": "sweep", "symbol": "BTC", "sides": ["short"], "reverse_pct": 1.0,
                       "reverse_bars": 2})
    # bar 1 sweeps C (peak 104.5) up to 105 and closes at 104 (0.95 % off the high): not yet
    # bar 2 closes at 103.5: 1.43 % below the 105 extreme -> the setup
    seq = [update(), update(price=104.0, high=105.0, low=100.0, ts=1), update(price=103.5, high=104.2, ts=2)]
    alerts = run([rule], seq)
    assert alerts[1] == []
    (alert,) = alerts[2]
    assert (alert.kind, alert.level_price, alert.context["extreme"], alert.context["sweep_ts"]) == (
        "sweep_reverse", 104.5, 105.0, 1)
    assert alert.context["reverse_pct"] == pytest.approx(100 * 1.5 / 105)
    # the same reversal one bar too late (N = 2 counts the sweep bar) fires nothing
    late = [update(), update(price=104.0, high=105.0, ts=1), update(price=104.2, high=104.3, ts=2),
            update(price=103.0, high=103.5, ts=3)]
    assert run([rule], late)[1:] == [[], [], []]


def test_rules_of_other_streams_are_ignored_and_state_is_not_mutated() -> None:
    eth = parse_rule({"id": "eth", "type": "cluster_forms", "symbol": "ETH", "within_pct": 5.0})
    bybit = parse_rule({"id": "bb", "type": "cluster_forms", "symbol": "BTC", "within_pct": 5.0,
                        "exchanges": ["bybit"]})
    state = StreamState()
    _, s1 = evaluate([eth, bybit], state, update())
    alerts, s2 = evaluate([eth, bybit], s1, update(short={**SHORT, 101.5: 12.0}, ts=1))
    assert alerts == [] and state == StreamState() and s1.ts == 0 and s2.ts == 1
