"""Tests for review_kit.report.redact: what is replaced, with what, and what is left alone."""
from __future__ import annotations

from collections import namedtuple

import pandas as pd
import pytest

from review_kit.report.redact import is_sensitive_name, redact, redact_frame, redact_value

# (text, redacted text): every placeholder and every kept piece is checked.
POSITIVES = [
    # emails
    ("mail alice.smith+oncall@example.co.uk now", "mail [email] now"),
    ("<mailto:bob@example.com|bob@example.com>", "<mailto:[email]|[email]>"),
    ("Escalated to DB-Team@corp.example.org.", "Escalated to [email]."),
    # phones: international, North American, national with a trunk 0, labelled
    ("call +1 415-555-0132", "call [phone]"),
    ("bridge +1 (415) 555-0132 pin 1234", "bridge [phone] pin 1234"),
    ("+44 20 7946 0958", "[phone]"),
    ("+44 (0)20 7946 0958 (London)", "[phone] (London)"),
    ("+33 1 23 45 67 89", "[phone]"),
    ("SMS from +4915112345678.", "SMS from [phone]."),
    ("0044 20 7946 0958", "[phone]"),
    ("(415) 555-0132", "[phone]"),
    ("on-call 415-555-0132, backup 415.555.0199", "on-call [phone], backup [phone]"),
    ("1-800-555-0199", "[phone]"),
    ("ring 020 7946 0958", "ring [phone]"),
    ("mobile 07700 900123", "mobile [phone]"),
    ("06 12 34 56 78", "[phone]"),
    ("06.12.34.56.78", "[phone]"),
    ("phone: 4155550132", "phone: [phone]"),
    ("<tel:+14155550132|+1 415-555-0132>", "<tel:[phone]|[phone]>"),
    # shaped tokens
    ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "[secret]"),
    ("xoxp-1234567890-abcdefghij", "[secret]"),
    ("token ghp_" + "A1b2" * 9 + " leaked", "token [secret] leaked"),
    ("github_pat_" + "a1" * 20, "[secret]"),
    ("glpat-" + "x" * 20, "[secret]"),
    ("key id AKIAIOSFODNN7EXAMPLE in logs", "key id [secret] in logs"),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "[secret]"),
    ("AIzaSyA-" + "b" * 31, "[secret]"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sflKxwRJSMeKKF2QT4fwpM", "jwt [secret]"),
    ("hook https://hooks.slack.com/services/T000/B000/XXXXXXXX done",
     "hook [secret] done"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
     "[secret]"),
    # headers and bearer tokens keep their scheme
    ("Authorization: Bearer abc.def-123_XYZ", "Authorization: Bearer [secret]"),
    ("authorization=Basic dXNlcjpwYXNzd29yZA==", "authorization=Basic [secret]"),
    ("curl -H 'Authorization: token 0123456789abcdef'",
     "curl -H 'Authorization: token [secret]'"),
    ("sent with bearer 0123456789abcdef", "sent with bearer [secret]"),
    # credentials as pairs, query parameters and JSON
    ("https://api.example.com/v1?user=1&token=abc123&x=2",
     "https://api.example.com/v1?user=1&token=[secret]&x=2"),
    ("https://maps.example.com/?key=abcdef123", "https://maps.example.com/?key=[secret]"),
    ("password=hunter2", "password=[secret]"),
    ("Password: hunter2", "Password: [secret]"),
    ('{"password": "correct horse battery", "user": "ana"}',
     '{"password": "[secret]", "user": "ana"}'),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "aws_secret_access_key = [secret]"),
    ("client_secret: s3cr3t", "client_secret: [secret]"),
    ("accessToken=abc.def", "accessToken=[secret]"),
    ("export API_KEY='abc123'", "export API_KEY='[secret]'"),
    ("X-Api-Key: 12345abcdef", "X-Api-Key: [secret]"),
    ("set-cookie: session_id=abc123; Path=/", "set-cookie: [secret]; Path=/"),
    # passwords in URLs
    ("https://user:pass@host.example.com/x", "https://user:[REDACTED]@host.example.com/x"),
    ("db: postgres://app:hunter2@db.internal:5432/shop",
     "db: postgres://app:[REDACTED]@db.internal:5432/shop"),
    ("redis://:sekret@cache:6379", "redis://:[REDACTED]@cache:6379"),
]

NEGATIVES = [
    "2024-03-01T10:04:12Z", "2024-03-01 10:04:12+00:00", "10:04:12.123456+0000",
    "at 2024-03-01T10:04:12.123-08:00", "tz +05:30 and UTC+1", "01-02-2024", "05/03/2024",
    "2024-03-01 00:00", "duration 01:02:03", "monitoring since 10:04 UTC",
    "v2.14.0", "1.24.3-1", "version 10.2.1.3", "build 20240301.7",
    "10.0.3.7", "192.168.100.200:8080", "fe80::1ff:fe23:4567:890a",
    "INC-1234", "PT4KHLK", "PR #12345", "sha 4f2a9c1e8b", "shard 0012-3456",
    "123e4567-e89b-12d3-a456-426614174000",
    "1516454398.000069", "ts=1709287200.123456", "1709287200", "1709287200123",
    "took 1500 ms", "p99 1,200 ms", "45 minutes", "3,000,000 requests", "$1,234,567.89",
    "error 503 from 10 hosts", "port 8080", "p50=1234 p90=5678", "+12.5% errors",
    "+1500 requests", "+1234567 rows", "count 0 5 10 15", "job 0 1 2 3 4 5 6 7 8 9",
    "max_tokens=4096", "token_type=bearer", "tokens: 5", "the bearer of bad news",
    "keyboard shortcut", "authorization failed for user", "session: 3 of 5",
    "passed: 12 tests", "code: 500", "key: value",
    "git@github.com:org/repo.git", "Slack <@U123ABC> joined", "<!here> deploy 2024-03-01",
    "https://status.example.com/incidents/abc123", "https://grafana.example.com/d/x?orgId=1",
    "",
]


@pytest.mark.parametrize(("text", "expected"), POSITIVES)
def test_redacts(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", NEGATIVES)
def test_leaves_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(("text", "expected"), POSITIVES)
def test_idempotent(text: str, expected: str) -> None:
    assert redact(expected) == expected


def test_mixed_message() -> None:
    text = ("Ana (ana@example.com, +44 20 7946 0958) pasted "
            "https://deploy:Tr0ub4dor@ci.example.com/job?token=abc and AKIAIOSFODNN7EXAMPLE "
            "at 2024-03-01T10:04:12Z on 10.1.2.3 during INC-42, v1.2.3")
    assert redact(text) == (
        "Ana ([email], [phone]) pasted "
        "https://deploy:[REDACTED]@ci.example.com/job?token=[secret] and [secret] "
        "at 2024-03-01T10:04:12Z on 10.1.2.3 during INC-42, v1.2.3")


def test_ip_addresses_only_when_asked() -> None:
    text = "hosts 10.0.3.7 and 192.168.1.20/24, fe80::1ff:fe23:4567:890a at 10:04:12 v1.2"
    assert redact(text) == text
    assert redact(text, ip_addresses=True) == "hosts [ip] and [ip], [ip] at 10:04:12 v1.2"


def test_non_text_is_returned_as_is() -> None:
    assert redact(None) is None  # type: ignore[arg-type]
    assert redact(42) == 42  # type: ignore[arg-type]


def test_sensitive_names() -> None:
    for name in ("password", "db_password", "client_secret", "accessToken", "X-Api-Key",
                 "aws_secret_access_key", "private-key", "session_id", "Authorization"):
        assert is_sensitive_name(name), name
    for name in ("max_tokens", "token_type", "keyboard", "session", "key", "author", "code"):
        assert not is_sensitive_name(name), name
    assert is_sensitive_name("key", in_query=True)
    assert is_sensitive_name("sig", in_query=True)


def test_redact_frame_touches_only_the_named_text_columns() -> None:
    frame = pd.DataFrame({
        "event_id": ["slack:1", "slack:2", "slack:3"],
        "actor": pd.Series(["ana@example.com", "Bo", None], dtype="string"),
        "summary": ["call +1 415-555-0132", "password=hunter2", "all good at 10:04:12"],
        "target": [None, "ops@example.com", "Cy"],
        "raw": ['{"email": "ana@example.com"}'] * 3,
    })
    out = redact_frame(frame)
    assert out["actor"].tolist()[:2] == ["[email]", "Bo"] and pd.isna(out["actor"].iloc[2])
    assert out["actor"].dtype == frame["actor"].dtype
    assert out["summary"].tolist() == ["call [phone]", "password=[secret]",
                                       "all good at 10:04:12"]
    assert pd.isna(out["target"].iloc[0]) and out["target"].tolist()[1:] == ["[email]", "Cy"]
    assert out["target"].dtype == frame["target"].dtype
    assert out["raw"].tolist() == frame["raw"].tolist()  # not named, not touched
    assert frame["summary"].iloc[0] == "call +1 415-555-0132"  # the input is not changed
    assert redact_frame(frame, ["raw", "missing"])["raw"].iloc[0] == '{"email": "[email]"}'


def test_redact_value_recurses() -> None:
    Point = namedtuple("Point", "label at")
    value = {
        "title": "Paged bob@example.com",
        "count": 3,
        "password": "plain-words-no-pattern",
        "rows": [{"summary": "token=abc123"}, ("+1 415-555-0132", 5)],
        "tags": {"ana@example.com"},
        "point": Point("ops@example.com", pd.Timestamp("2024-03-01", tz="UTC")),
        "series": pd.Series(["a@b.io", None]),
        "frame": pd.DataFrame({"text": ["x@y.io"], "n": [1]}),
    }
    out = redact_value(value)
    assert out["title"] == "Paged [email]"
    assert out["count"] == 3
    assert out["password"] == "[secret]"  # its key says what it is
    assert out["rows"] == [{"summary": "token=[secret]"}, ("[phone]", 5)]
    assert out["tags"] == {"[email]"}
    assert out["point"] == Point("[email]", pd.Timestamp("2024-03-01", tz="UTC"))
    assert out["series"].tolist()[0] == "[email]" and out["series"].isna().iloc[1]
    assert out["frame"].to_dict("list") == {"text": ["[email]"], "n": [1]}
    assert value["title"] == "Paged bob@example.com"  # the input is not changed
