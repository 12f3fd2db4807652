"""Alert storage, config file, cooldown on a deterministic flapping level, target validation."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.alerts.config import load_config, parse_config
from liqmap.alerts.engine import AlertEngine
from liqmap.alerts.storage import AlertStore
from liqmap.analysis.evaluate_rules import make_update
from liqmap.analysis.rules import parse_rule
from liqmap.errors import ConfigError
from liqmap.model.result import LiquidationMap
from liqmap.store import DuckDBStore

EDGES = np.arange(80.0, 121.0)
MINUTE = 60_000


def _update(with_cluster: bool, ts: int):
    centers = 0.5 * (EDGES[:-1] + EDGES[1:])
    short = np.where(centers > 100, 1.0, 0.0)
    long = np.where(centers <= 100, 1.0, 0.0)
    if with_cluster:
        short[centers == 101.5] = 30.0
    snap = LiquidationMap.from_bins(price_edges=EDGES, long=long, short=short, price=100.0, ts=ts, symbol="BTC")
    return make_update(snap, exchanges=("binance",), high=100.2, low=99.8)


@pytest.fixture
def store():
    with DuckDBStore(":memory:") as s:
        yield s


class Recorder:
    """A delivery target that records what it was sent (the HTTP path is tested in test_alerts_replay)."""

    def __init__(self, url: str) -> None:
        self.name = url
        self.sent: list = []

    def send_once(self, alert):
        self.sent.append(alert)
        return True, False, None


def test_cooldown_suppresses_a_flapping_level_and_lets_it_through_after(store) -> None:
    """A cluster at 101.5 appears, vanishes, appears ... every 10 minutes; cooldown 30 minutes."""
    rule = parse_rule({"id": "forms", "type": "cluster_forms", "symbol": "BTC", "within_pct": 3.0,
                       "cooldown_minutes": 30})
    targets: dict[str, Recorder] = {}
    engine = AlertEngine([rule], targets=["rec://x"], alert_store=AlertStore(store),
                         target_factory=lambda url: targets.setdefault(url, Recorder(url)))
    statuses = []
    for i in range(9):  # present at 0, 20, 40, 60, 80 minutes (i even); baseline at 0
        for d in engine.process(_update(i % 2 == 0, ts=i * 10 * MINUTE)):
            statuses.append((d.alert.ts // MINUTE, d.status))
    # forms at 20 (first), 40 (20 min later: suppressed), 60 (40 min after the last delivery: delivered), 80
    assert statuses == [(20, "delivered"), (40, "suppressed"), (60, "delivered"), (80, "suppressed")]
    assert [a.ts // MINUTE for a in targets["rec://x"].sent] == [20, 60]
    history = AlertStore(store).history(rule_id="forms")
    assert [(h.ts // MINUTE, h.status) for h in history] == [(80, "suppressed"), (60, "delivered"),
                                                               (40, "suppressed"), (20, "delivered")]
    assert history[0].context["cluster"]["peak_price"] == 101.5


def test_rules_crud_and_refusal(store) -> None:
    alerts = AlertStore(store)
    rule = parse_rule({"id": "r1", "type": "price_near", "symbol": "BTC", "within_pct": 1.0})
    assert alerts.save_rule(rule, now_ms=1) is True
    assert alerts.save_rule(rule, now_ms=2) is False  # same id, not replaced
    changed = parse_rule({**rule.to_dict(), "within_pct": 2.0})
    assert alerts.save_rule(changed, now_ms=3, replace=True) is True
    assert alerts.rules() == [changed] and alerts.rules(symbol="ETH") == []
    assert alerts.remove_rule("r1") is True and alerts.remove_rule("r1") is False
    assert alerts.rules() == []


def test_recording_is_idempotent(store) -> None:
    alerts = AlertStore(store)
    rule = parse_rule({"id": "f", "type": "cluster_forms", "symbol": "BTC", "within_pct": 3.0})
    engine = AlertEngine([rule])
    engine.evaluate(_update(False, 0))
    (alert,) = engine.evaluate(_update(True, 60_000))
    first = alerts.record(alert, now_ms=5)
    assert first is not None and alerts.record(alert, now_ms=6) is None
    (stored,) = alerts.history()
    assert (stored.id, stored.status, stored.created_ms, stored.level_price) == (first, "pending", 5, 101.5)


CONFIG = """
[delivery]
targets = ["http://127.0.0.1:9/hook"]
attempts = 3
backoff_seconds = 0.25

[defaults]
symbol = "BTC"
cooldown_minutes = 15

[[rules]]
id = "near"
type = "price_near"
within_pct = 1.0
exchanges = ["binance"]

[[rules]]
id = "big"
type = "cluster_usd"
usd = 5e8
symbol = "ETH"
"""


def test_config_file(tmp_path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    assert [(r.id, r.symbol, r.cooldown_minutes) for r in config.rules] == [("near", "BTC", 15.0), ("big", "ETH", 15.0)]
    assert config.rules[0].exchanges == ("binance",)
    assert config.targets == ("http://127.0.0.1:9/hook",)
    assert (config.retry.attempts, config.retry.base_s) == (3, 0.25)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rules]]\ntype = 'price_near'\nsymbol = 'BTC'\n", r"rule #1: within_pct: required"),
        ("[[rules]]\nid='x'\ntype = 'sweep'\nsymbol = 'BTC'\nreverse_pct = 80\n", r"rule #1 \(x\): reverse_pct"),
        ("[delivery]\nattempts = 0\n", r"delivery\.attempts"),
        ("[delivery]\nurl = 'x'\n", r"delivery\.url: unknown field"),
        ("[alerts]\n", r"alerts: unknown section"),
        ("rules = 3\n", r"rules: must be an array"),
        ("[[rules\n", r"not valid TOML"),
    ],
)
def test_config_errors_name_the_field(tmp_path, text, message) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_bad_targets_are_refused_up_front() -> None:
    rule = parse_rule({"type": "sweep", "symbol": "BTC"})
    with pytest.raises(ConfigError, match="scheme nosuchservice:// is not allowed; accepted: apprise, "):
        AlertEngine([rule], targets=["nosuchservice://abc"])
    with pytest.raises(ConfigError, match="apprise does not understand 'tgram://\\*\\*\\*'"):
        AlertEngine([rule], targets=["tgram://x"])
    assert parse_config({}).rules == []


def test_live_loop_reloads_rules_each_round(store, caplog) -> None:
    from liqmap.alerts.config import AlertsConfig
    from liqmap.alerts.live import AlertService

    broken = parse_rule({"id": "broken", "type": "sweep", "symbol": "BTC", "notify": ["discord://x"]})
    service = AlertService(store, config=AlertsConfig(rules=[broken]))
    assert service.round() == [] and service.engine.rules == []
    assert "rule broken: notify: apprise does not understand 'discord://***'" in caplog.text
    assert service.pollers == {}  # no usable rule, nothing to watch
    AlertStore(store).save_rule(parse_rule({"id": "later", "type": "sweep", "symbol": "ETH"}), now_ms=0)
    service.round()
    assert [r.id for r in service.engine.rules] == ["later"] and sorted(service.pollers) == ["ETH"]
    assert "no heatmap for ETH yet" in caplog.text  # empty store: logged, not raised
