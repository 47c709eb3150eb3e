"""`--redact` end to end: secrets planted in every field of an incident and its facilitator
notes, and none of them in any file that `retro`, `retro --all` and `trends` write."""
from __future__ import annotations

import csv
import os
import html
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from review_kit.cli import main
from review_kit.model import ANNOTATION_FIELDS
from review_kit.report.redact import Redactor, redact
from review_kit.store import Store

# (kind, secret): each is planted somewhere in the incident, its notes or its action items.
SECRETS = [
    ("email", "ana.lima@example.com"),
    ("email, Unicode", "jürgen.müller@bücher.example"),
    ("email, URL-encoded", "bob.ops%40example.org"),
    ("email, Unicode", "zoë.ferreira@exämple.co"),
    ("phone, international", "+1 415-555-0132"),
    ("phone, international", "+44 20 7946 0958"),
    ("phone, ten digits", "4155550199"),
    ("phone, national", "020 7946 0123"),
    ("phone, national", "07700 900456"),
    ("phone, international E.164", "+4915112345678"),
    ("credential pair", "password=hunter2hunter2"),
    ("credential pair", "token=tok3nValue99zz"),
    ("credential pair", "client_secret: s3cr3tClientValue"),
    ("credential pair", 'api_key="abc123def456ghi789"'),
    ("header", "X-Api-Key: key1234567890abcdXYZ"),
    ("header", "Authorization: GenieKey 7c8a1b2c-3d4e-5f60-7182-93a4b5c6d7e8"),
    ("bearer", "Bearer abcDEF123456ghiJKL789mno"),
    ("JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbmEifQ.sflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV"),
    ("AWS access key id", "AKIAIOSFODNN7EXAMPLE"),
    ("AWS secret access key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("Slack bot token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("Slack webhook", "https://hooks.slack.com/services/T01ABCDEF/B01ABCDEF/abcdefghijklmnopqrstuvwx"),
    ("PagerDuty routing key", "routing key e93facc04764012d7bfb002500d5d1a6"),
    ("PagerDuty routing key", "routing_key=R0ABCDEF1234567890ABCDEF12345678"),
    ("GitHub token", "ghp_" + "A1b2C3d4" * 4 + "E5f6"),
    ("GitLab token", "glpat-abcDEF1234567890xyzQ"),
    ("Stripe key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("Google API key", "AIzaSyA-" + "b1C2d3E4f5" * 3 + "g6H7i"),
    ("URL password", "postgres://app:dbPassw0rd99@db.internal:5432/shop"),
    ("Telegram bot token", "123456789:AAEhBP0av28F3P3Nf6mEHUHAq1WE-yeIsdk"),
    ("SendGrid key", "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
    ("Twilio key", "SK0123456789abcdef0123456789abcdef"),
    ("OpenAI key", "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd"),
    ("Azure storage key", "AccountKey=" + "A1b2C3d4E5f6G7h8" * 5 + "I9j0K1l2/+z=="),
    ("private key", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
                    "-----END PRIVATE KEY-----"),
]
# What must not appear of each: the whole secret and its distinctive part.
NEEDLES = {
    "password=hunter2hunter2": "hunter2hunter2", "token=tok3nValue99zz": "tok3nValue99zz",
    "client_secret: s3cr3tClientValue": "s3cr3tClientValue",
    'api_key="abc123def456ghi789"': "abc123def456ghi789",
    "X-Api-Key: key1234567890abcdXYZ": "key1234567890abcdXYZ",
    "Authorization: GenieKey 7c8a1b2c-3d4e-5f60-7182-93a4b5c6d7e8": "7c8a1b2c-3d4e-5f60",
    "Bearer abcDEF123456ghiJKL789mno": "abcDEF123456ghiJKL789mno",
    "routing key e93facc04764012d7bfb002500d5d1a6": "e93facc04764012d7bfb002500d5d1a6",
    "routing_key=R0ABCDEF1234567890ABCDEF12345678": "R0ABCDEF1234567890ABCDEF12345678",
    "postgres://app:dbPassw0rd99@db.internal:5432/shop": "dbPassw0rd99",
    "private key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
}
PEOPLE = ["Ana Lima", "ana.lima@example.com", "jsmith", "Carol Dias"]


def needles(secret: str) -> set[str]:
    core = NEEDLES.get(secret, secret)
    if secret.startswith("-----BEGIN"):
        core = NEEDLES["private key"]
    forms = {core, html.escape(core), json.dumps(core)[1:-1], json.dumps(core, ensure_ascii=False)[1:-1],
             quote(core), core.replace("@", "%40")}
    if core[:1] == "+" or core[:1].isdigit():  # a phone number: its digits in a row too
        digits = "".join(c for c in core if c.isdigit())
        forms.add(digits)
    return {f for f in forms if len(f) >= 8}


def plant(secrets: list[str], n: int) -> str:
    """Secrets n, n+1, n+2 (cycling), spaced in prose."""
    picked = [secrets[(n + k) % len(secrets)] for k in range(3)]
    return f"see {picked[0]} ; then {picked[1]} , also {picked[2]} ."


@pytest.fixture
def planted_store(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """One resolved incident with every secret in several fields, and a second incident
    (the history and the trends need more than one)."""
    secrets = [s for _, s in SECRETS]
    db = tmp_path / "review.db"
    store = Store.open(db)
    where: dict[str, str] = {}
    events = tmp_path / "events.csv"
    kinds = ["triggered", "acknowledged", "escalated", "message", "note", "status_update",
             "deploy", "message", "mitigated", "resolved"]
    actors = ["PagerDuty", "Ana Lima", "ana.lima@example.com", "jsmith", "Carol Dias",
              "Statuspage", "Deploy Bot", "+1 415-555-0132", "jsmith", "Ana Lima"]
    with events.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["incident_id", "at", "kind", "actor", "summary", "target", "actor_type",
                         "visibility"])
        n = 0
        for incident in ("INC-9", "INC-8"):
            day = "2024-06-11" if incident == "INC-9" else "2024-05-02"
            for k, kind in enumerate(kinds * (len(secrets) // len(kinds) + 1)):
                minute = k
                actor = actors[k % len(actors)]
                summary = plant(secrets, n) + f" mentioning Carol Dias and @jsmith #{k}"
                target = "Carol Dias, jürgen.müller@bücher.example" if kind == "escalated" else ""
                actor_type = "bot" if actor in ("PagerDuty", "Deploy Bot", "Statuspage") else "person"
                if kind == "resolved" and k < len(kinds) * 3:
                    continue
                writer.writerow([incident, f"{day}T10:{minute:02d}:00Z", kind, actor, summary,
                                 target, actor_type,
                                 "external" if kind == "status_update" else "internal"])
                n += 1
    store.ingest("csv", events)
    incidents = tmp_path / "incidents.csv"
    with incidents.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["incident_id", "title", "severity", "status", "service", "team",
                         "commander", "url", "source_id"])
        for k, incident in enumerate(("INC-9", "INC-8")):
            writer.writerow([incident, "Checkout down: " + plant(secrets, 3 * k), "SEV2", "resolved",
                             "checkout " + secrets[(7 + k) % len(secrets)],
                             "payments " + secrets[(11 + k) % len(secrets)], "Ana Lima",
                             "https://status.example.com/i/1?token=tok3nValue99zz",
                             "ext " + secrets[(13 + k) % len(secrets)]])
    store.ingest("csv", incidents)
    for k, name in enumerate(ANNOTATION_FIELDS):
        store.set_annotation("INC-9", name, f"## {name}\n\n- " + plant(secrets, 2 * k) +
                             f"\n- [runbook](https://wiki.example.com/x?password=hunter2hunter2)\n"
                             f"- {plant(secrets, 2 * k + 1)}", author=PEOPLE[k % len(PEOPLE)])
    for k in range(0, len(secrets), 3):
        store.add_action_item("INC-9", "Rotate " + plant(secrets, k), owner=PEOPLE[k % len(PEOPLE)],
                              type="prevent", url="https://jira.example.com/browse/OPS-1?"
                              + "api_key=abc123def456ghi789")
    store.close()
    return db, where


def leaks(folder: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    files = [p for p in folder.rglob("*") if p.is_file()]
    contents = {p: p.read_bytes() for p in files}
    for _, secret in SECRETS:
        for needle in needles(secret):
            data = needle.encode("utf-8")
            hits = [str(p.relative_to(folder)) for p, body in contents.items() if data in body]
            if hits:
                found.setdefault(secret, []).extend(hits)
    for person in PEOPLE:
        hits = [str(p.relative_to(folder)) for p, body in contents.items()
                if person.encode() in body or html.escape(person).encode() in body]
        if hits:
            found[person] = hits
    return found


def test_at_least_thirty_secrets_of_every_kind_are_planted():
    assert len(SECRETS) >= 30
    kinds = {kind.split(",")[0] for kind, _ in SECRETS}
    assert {"email", "phone", "credential pair", "header", "bearer", "AWS secret access key",
            "Slack bot token", "PagerDuty routing key"} <= kinds


@pytest.mark.parametrize(("kind", "secret"), SECRETS)
def test_each_planted_secret_is_recognised_in_prose(kind, secret):
    text = redact(f"note: {secret} (as pasted)")
    assert not any(n in text for n in needles(secret)), (kind, text)


def test_people_get_stable_distinct_placeholders_even_when_their_names_redact_alike():
    # Both names redact to "[email]" by pattern: as people they stay two people.
    redactor = Redactor(people=["ana@example.com", "bob@example.com", "Ana Lima"])
    assert redactor.person("ana@example.com") == "Person 1"
    assert redactor.person("bob@example.com") == "Person 2"
    assert redactor.person("ANA LIMA") == "Person 3"
    assert redactor.text("bob@example.com handed over to Ana Lima") == \
        "Person 2 handed over to Person 3"


@pytest.mark.slow
def test_no_planted_secret_reaches_any_output_file(planted_store, tmp_path, monkeypatch, capsys):
    db, _ = planted_store
    monkeypatch.chdir(tmp_path)
    one, every, trends = tmp_path / "one", tmp_path / "every", tmp_path / "trends"
    assert main(["--store", str(db), "-q", "retro", "INC-9", "--redact", "--svg", "--out", str(one)]) == 0
    assert main(["--store", str(db), "-q", "retro", "--all", "--redact", "--svg", "--out", str(every)]) == 0
    assert main(["--store", str(db), "-q", "trends", "--redact", "--svg", "--out", str(trends)]) == 0
    capsys.readouterr()
    for folder in (one, every, trends):
        names = {p.name for p in folder.rglob("*") if p.is_file()}
        assert names, folder
    assert {"retrospective.html", "retrospective.ipynb", "postmortem.md", "timeline.png",
            "timeline.svg", "responders.png"} <= {p.name for p in (one / "INC-9").iterdir()}
    assert (every / "index.html").is_file() and (every / "INC-8" / "retrospective.html").is_file()
    assert {"trends.html", "trends.ipynb", "incident_counts.svg"} <= {p.name for p in trends.iterdir()}
    # The outputs still say something: placeholders where the secrets and people were.
    report = (one / "INC-9" / "retrospective.html").read_text(encoding="utf-8")
    assert "[secret]" in report and "[email]" in report and "[phone]" in report
    assert "Person 1" in report
    postmortem = (one / "INC-9" / "postmortem.md").read_text(encoding="utf-8")
    assert "Person 1" in postmortem and "\\[secret\\]" in postmortem
    found = {name: leaks(folder) for name, folder in
             (("retro", one), ("retro --all", every), ("trends", trends))}
    assert found == {"retro": {}, "retro --all": {}, "trends": {}}


@pytest.mark.slow
def test_a_redacted_run_that_fails_leaves_nothing(planted_store, tmp_path, monkeypatch, capsys):
    db, _ = planted_store
    monkeypatch.chdir(tmp_path)
    template = tmp_path / "broken.md.j2"
    template.write_text("{{ no_such_value }}\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["--store", str(db), "-q", "retro", "INC-9", "--redact", "--out", str(out),
                 "--template", str(template)])
    assert code == 2
    assert [p for p in out.rglob("*") if p.is_file()] == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hunter2" not in err


@pytest.mark.slow
def test_the_commands_config_reaches_the_notebooks_it_runs(planted_store, tmp_path, monkeypatch,
                                                           capsys):
    """A `[redact]` pattern of ./review-kit.toml or of --config applies in the report, though
    the notebook's kernel starts in the output folder; without it the text is there."""
    from review_kit.config import CONFIG_VARIABLE
    db, _ = planted_store
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_VARIABLE, raising=False)

    def report(out: str, *options: str) -> str:
        assert main(["--store", str(db), "-q", *options, "retro", "INC-9", "--redact",
                     "--out", str(tmp_path / out)]) == 0
        return (tmp_path / out / "INC-9" / "retrospective.html").read_text(encoding="utf-8") + \
            (tmp_path / out / "INC-9" / "postmortem.md").read_text(encoding="utf-8")

    assert "mentioning" in report("plain")
    (tmp_path / "review-kit.toml").write_text('[redact]\npatterns = ["mentioning"]\n')
    assert "mentioning" not in report("here")
    (tmp_path / "review-kit.toml").rename(tmp_path / "elsewhere.toml")
    assert "mentioning" not in report("named", "--config", str(tmp_path / "elsewhere.toml"))
    assert CONFIG_VARIABLE not in os.environ  # the command's, not the process's
    capsys.readouterr()
