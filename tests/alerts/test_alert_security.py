"""Secrets and SSRF: one redaction over real apprise URL forms, the target policy (schemes, addresses, cap),
redacted rules and history without the token, and concurrent delivery where a dead target (accepts TCP,
never answers) does not hold back a live one."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
from alerts_kit import Receiver, start_receiver
from fastapi.testclient import TestClient

from liqmap.alerts.delivery import Retry, WebhookTarget, deliver_all
from liqmap.alerts.engine import AlertEngine
from liqmap.alerts.redact import redact_text, redact_url
from liqmap.alerts.storage import AlertStore
from liqmap.alerts.targets import ALLOWED_SCHEMES, TargetPolicy
from liqmap.analysis.evaluate_rules import Alert
from liqmap.analysis.rules import parse_rule
from liqmap.errors import ConfigError
from liqmap.store import DuckDBStore

BOT = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

# (apprise URL form, what may be shown, the secrets that must not be)
REDACTION = [
    (f"tgram://{BOT}/-1001234567890", "tgram://***", [BOT, "AAHdqTcv", "1001234567890"]),
    (f"tgram://{BOT}/", "tgram://***", [BOT]),
    ("discord://1122334455667788/aBcD-eFgH_iJkLmNoPqRsTuV", "discord://***", ["1122334455667788", "aBcD-eFgH"]),
    ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#alerts", "slack://***", ["T1JJ3T3L2", "TIiajkdnl"]),
    ("msteams://team/tokenA/tokenB/tokenC", "msteams://***", ["tokenA", "tokenB", "tokenC"]),
    ("pover://userkey@apptoken", "pover://***", ["userkey", "apptoken"]),
    ("mailto://alice:hunter2@gmail.com", "mailto://gmail.com/***", ["alice", "hunter2"]),
    ("mailtos://alice:hunter2@mail.example.org:465?to=bob@example.org", "mailtos://mail.example.org:465/***",
     ["hunter2", "bob@"]),
    ("json://bot:s3cret@hooks.example.org:8443/path/tok", "json://hooks.example.org:8443/***", ["s3cret", "tok"]),
    ("jsons://hooks.example.org/notify?apikey=abc123", "jsons://hooks.example.org/***", ["abc123"]),
    ("ntfy://liqmap-private-topic-4711", "ntfy://***", ["4711"]),
    ("ntfys://user:pw@ntfy.example.org/alerts", "ntfys://ntfy.example.org/***", ["user:pw", "pw@"]),
    ("ntfys://ntfy.example.org/topic?auth=tk_abc", "ntfys://ntfy.example.org/***", ["tk_abc"]),
    ("gotifys://gotify.example.org/AbCdEfToken", "gotifys://gotify.example.org/***", ["AbCdEfToken"]),
    ("https://discord.com/api/webhooks/1122/XyZtoken", "https://discord.com/***", ["1122", "XyZtoken"]),
    ("https://hooks.slack.com/services/T000/B000/XXXXsecret", "https://hooks.slack.com/***", ["XXXXsecret"]),
    ("https://example.org/hook?token=abc&x=1", "https://example.org/***", ["abc"]),
    ("https://user:pass@[2001:db8::1]:8443/h", "https://[2001:db8::1]:8443/***", ["pass"]),
    ("http://example.org", "http://example.org", []),
]


@pytest.mark.parametrize(("url", "shown", "secrets"), REDACTION)
def test_redaction_of_every_url_form(url: str, shown: str, secrets: list[str]) -> None:
    assert redact_url(url) == shown
    text = redact_text(f"ConnectError: posting to {url} failed; retrying")
    assert text == f"ConnectError: posting to {shown} failed; retrying"
    for secret in secrets:
        assert secret not in text


def test_logs_of_apprise_httpx_and_delivery_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    import liqmap.alerts.delivery  # noqa: F401  (installs the filters)

    with caplog.at_level(logging.DEBUG):
        logging.getLogger("apprise").info("Sending Telegram notification to tgram://%s/42", BOT)
        logging.getLogger("httpx").info('HTTP Request: POST %s "HTTP/1.1 200 OK"', "https://h.example.org/x?key=k9")
        logging.getLogger("liqmap.alerts.delivery").warning("to discord://1122/secret-tok failed")
    assert BOT not in caplog.text and "k9" not in caplog.text and "secret-tok" not in caplog.text
    assert "tgram://***" in caplog.text and "https://h.example.org/***" in caplog.text


def fake_dns(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    return lambda host: table[host]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://x", "nosuch://abc",
                                 "dict://127.0.0.1:11211/"])
def test_schemes_outside_the_allowlist_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="is not allowed; accepted: apprise, apprises, discord") as refused:
        TargetPolicy().check(url)
    assert "https" in str(refused.value) and "tgram" in str(refused.value)


@pytest.mark.parametrize(("url", "address"), [
    ("http://127.0.0.1:8000/hook", "127.0.0.1"),
    ("http://10.1.2.3/hook", "10.1.2.3"),
    ("http://192.168.0.10/hook", "192.168.0.10"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
    ("http://224.0.0.1/", "224.0.0.1"),
    ("http://0.0.0.0:80/", "0.0.0.0"),
    ("http://[::1]:8000/", "::1"),
    ("http://[fe80::1]/", "fe80::1"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),  # the IPv4-mapped loopback
    ("json://user:pw@localhost:9000/", "127.0.0.1"),
    ("http://rebind.example.org/hook", "10.0.0.7"),
    ("mailtos://me:pw@internal.example.org", "192.168.7.7"),
])
def test_non_public_addresses_are_refused(url: str, address: str) -> None:
    dns = fake_dns({"rebind.example.org": ["93.184.215.14", "10.0.0.7"], "internal.example.org": ["192.168.7.7"],
                    "localhost": ["127.0.0.1"]})
    literal = TargetPolicy(resolver=dns)
    with pytest.raises(ConfigError, match=f"resolves to {address}, a loopback/private") as refused:
        literal.check(url)
    assert "pw" not in str(refused.value)
    TargetPolicy(allow_private=True, resolver=dns).check(url)  # allowed by config: no error


def test_public_targets_and_fixed_services_pass() -> None:
    dns = fake_dns({"hooks.example.org": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]})
    policy = TargetPolicy(resolver=dns)
    for url in ("https://hooks.example.org/x", "http://8.8.8.8/hook", f"tgram://{BOT}/42",
                "ntfy://my-topic", "slack://a/b/c"):
        policy.check(url)
    assert "file" not in ALLOWED_SCHEMES


def test_targets_per_rule_are_capped() -> None:
    policy = TargetPolicy()
    policy.check_all([f"tgram://{BOT}/{i}" for i in range(10)])
    with pytest.raises(ConfigError, match="11 targets; at most 10 per rule"):
        policy.check_all([f"tgram://{BOT}/{i}" for i in range(11)])
    rule = parse_rule({"type": "sweep", "symbol": "BTC", "notify": [f"tgram://{BOT}/{i}" for i in range(11)]})
    with pytest.raises(ConfigError, match="at most 10 per rule"):
        AlertEngine([rule])


def test_webhook_checks_the_address_again_before_sending() -> None:
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])  # DNS rebinding: public at rule time, loopback later
    policy = TargetPolicy(resolver=lambda host: next(answers))
    target = WebhookTarget("http://rebind.example.org/hook", policy=policy)
    policy.check("http://rebind.example.org/hook")
    ok, retryable, error = target.send_once(_alert())
    assert (ok, retryable) == (False, False)
    assert "resolves to 127.0.0.1" in str(error)


@pytest.fixture
def app_client() -> Iterator[TestClient]:
    from liqmap.service.app import create_app

    with DuckDBStore(":memory:") as store, TestClient(create_app(store, token="tk", prewarm_views=False)) as client:
        yield client


def test_rules_api_refuses_bad_targets_and_redacts_without_token(app_client: TestClient) -> None:
    auth = {"X-Liqmap-Token": "tk"}
    base = {"type": "sweep", "symbol": "BTC"}
    bad = app_client.post("/api/alerts/rules", headers=auth, json={**base, "id": "f", "notify": ["file:///etc/passwd"]})
    assert bad.status_code == 400 and bad.json()["parameter"] == "notify"
    assert "scheme file:// is not allowed; accepted:" in bad.json()["detail"]
    local = app_client.post("/api/alerts/rules", headers=auth,
                            json={**base, "id": "l", "notify": ["http://127.0.0.1:6379/x"]})
    assert local.status_code == 400 and "resolves to 127.0.0.1" in local.json()["detail"]
    many = app_client.post("/api/alerts/rules", headers=auth,
                           json={**base, "id": "m", "notify": [f"tgram://{BOT}/{i}" for i in range(11)]})
    assert many.status_code == 400 and "at most 10 per rule" in many.json()["detail"]
    secret = [f"tgram://{BOT}/42", "https://8.8.8.8/hook?token=abc123"]
    assert app_client.post("/api/alerts/rules", headers=auth, json={**base, "id": "ok", "notify": secret}).status_code == 201
    anonymous = app_client.get("/api/alerts/rules").json()["rules"]
    assert anonymous[0]["notify"] == ["tgram://***", "https://8.8.8.8/***"]
    assert BOT not in app_client.get("/api/alerts/rules").text
    assert app_client.get("/api/alerts/rules", headers=auth).json()["rules"][0]["notify"] == secret


def test_history_errors_are_redacted_without_token(app_client: TestClient) -> None:
    store = app_client.app.state.liqmap.store  # type: ignore[attr-defined]
    alerts = AlertStore(store)
    aid = alerts.record(_alert(), now_ms=1)
    assert aid is not None
    alerts.set_status(aid, "failed", attempts=1, error=f"old row: ConnectError to tgram://{BOT}/42")
    shown = app_client.get("/api/alerts").json()["alerts"][0]["error"]
    assert shown == "old row: ConnectError to tgram://***"


def _alert() -> Alert:
    return Alert(rule_id="r", kind="sweep", symbol="BTC", exchanges=("binance",), side="long", ts=1_700_000_000_000,
                 price=60_000.0, level_price=59_000.0, cid=1.0, usd=5e7, message="swept")


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts TCP connections (the kernel completes the handshake) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/dead"


def test_a_dead_target_does_not_hold_back_a_live_one(silent_server: str) -> None:
    receiver = start_receiver(Receiver())
    try:
        policy = TargetPolicy(allow_private=True)
        dead = WebhookTarget(silent_server, policy=policy, timeout_s=30)
        live = WebhookTarget(receiver.url + "/live", policy=policy)
        # the dead target first: sent one after the other, the live one would never be reached in time
        outcomes = deliver_all([dead, live], _alert(), Retry(attempts=1), timeout_s=1.0)
        delivered = receiver.accepted("/live")
    finally:
        assert receiver.server is not None
        receiver.server.shutdown()
        receiver.server.server_close()
    assert [(o.ok, o.error) for o in outcomes] == [(False, "timed out after 1 s"), (True, None)]
    assert [body["rule_id"] for body in delivered] == ["r"]
    assert outcomes[0].target == redact_url(silent_server)


def test_engine_delivers_to_all_targets_concurrently(silent_server: str) -> None:
    receiver = start_receiver(Receiver())
    try:
        with DuckDBStore(":memory:") as store:
            rule = parse_rule({"id": "r", "type": "sweep", "symbol": "BTC", "notify": [silent_server, receiver.url + "/a"]})
            engine = AlertEngine([rule], alert_store=AlertStore(store), policy=TargetPolicy(allow_private=True),
                                 retry=Retry(attempts=1), timeout_s=1.0)
            dispatch = engine.dispatch(_alert())
            stored = AlertStore(store).history(rule_id="r", limit=5)[0]
    finally:
        assert receiver.server is not None
        receiver.server.shutdown()
        receiver.server.server_close()
    assert dispatch.status == "failed"
    assert [o.ok for o in dispatch.outcomes] == [False, True]
    assert len(receiver.accepted("/a")) == 1
    assert stored.error == f"{redact_url(silent_server)}: timed out after 1 s"


def test_cli_add_refuses_a_scheme_outside_the_allowlist(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from liqmap.cli import main

    db = str(tmp_path / "a.duckdb")
    refused = CliRunner().invoke(main, ["alerts", "add", "--db", db, "--type", "sweep", "--symbol", "BTC",
                                        "--notify", "file:///etc/passwd"])
    assert refused.exit_code != 0
    assert "scheme file:// is not allowed; accepted:" in refused.output
    with DuckDBStore(db) as store:
        assert AlertStore(store).rules() == []
