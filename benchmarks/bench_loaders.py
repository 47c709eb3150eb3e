"""Loader benchmark (issue 3): ingest of a generated Slack export and Alertmanager webhook log,
each in events/s against a floor measured in the same run, with the ingest's peak memory.
Not part of the test suite.

    .venv/bin/python benchmarks/bench_loaders.py [--slack-messages 200000] [--alert-lines 1000000]
                                                 [--profile 20] [--keep DIR]

The floor of an input is what the work costs with nothing of ours in the way: every file
parsed by orjson, plus one bare `executemany` of the very rows the store ended up with into an
unindexed SQLite table. Each ingest runs in a child process of its own, so its peak resident
memory (`wait4` rusage) is the ingest's alone. `--profile N` then runs each ingest once more
under cProfile, on inputs a quarter of the size, and prints the N costliest functions.
"""
from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

GOAL_RATE = 100_000          # events/s
GOAL_PEAK_BYTES = 1 << 30    # 1 GB
INSERT_CHUNK = 50_000

# --- Slack export ------------------------------------------------------------------------------

FIRST = ["Ana", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jun", "Kofi", "Lena",
         "Marco", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tomás", "Uma", "Vik", "Wen", "Yara"]
LAST = ["Okafor", "Nguyen", "Bianchi", "Raman", "Fischer", "Herrera", "Kowalski", "Haddad", "Sato",
        "Larsen", "Mensah", "Costa", "Ivanova", "Park", "Dubois", "Weber", "Silva", "Khan"]
WORDS = ("checkout api error rate latency p99 deploy rollback canary database replica failover "
         "queue lag kafka consumer pod restart oom node disk cache redis timeout upstream 502 "
         "dns cert expired traffic region shift dashboard looking now confirmed fixed still "
         "seeing spike back normal mitigated monitoring customers support ticket status page "
         "update root cause config flag feature toggle revert hotfix pr merged paging on-call").split()
BOTS = [("B01PAGERDUTY", "PagerDuty"), ("B02ALERTMGR", "Alertmanager"), ("B03DATADOG", "Datadog"),
        ("B04INCIDENT", "incident.io"), ("B05GITHUB", "GitHub")]
SLUGS = ["checkout-errors", "db-failover", "search-latency", "payments-timeout", "cdn-5xx",
         "login-outage", "kafka-lag", "dns-resolution", "cert-expiry", "queue-backlog"]


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def _slack_user(i: int, rng: random.Random) -> dict:
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    real = f"{first} {last}" if i < len(FIRST) * len(LAST) else f"{first} {last} {i}"
    handle = real.lower().replace(" ", ".")
    return {"id": f"U{i:08X}", "team_id": "T0ACME", "name": handle, "deleted": rng.random() < 0.03,
            "color": "9f69e7", "real_name": real, "tz": "Europe/Berlin",
            "tz_label": "Central European Summer Time", "tz_offset": 7200,
            "profile": {"title": rng.choice(["SRE", "Software Engineer", "Engineering Manager",
                                             "Support Lead", "DBA", "Product Manager"]),
                        "real_name": real, "real_name_normalized": real,
                        "display_name": handle.split(".")[0], "display_name_normalized": handle.split(".")[0],
                        "avatar_hash": f"g{i:011x}", "team": "T0ACME"},
            "is_admin": False, "is_owner": False, "is_bot": False, "is_app_user": False,
            "updated": 1700000000 + i}


def _user_message(user: dict, ts: str, text: str, rng: random.Random) -> dict:
    """A message as exports since 2019 write it: blocks and the author's profile included."""
    profile = user["profile"]
    return {
        "client_msg_id": f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}"
                         f"-a{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}",
        "type": "message", "text": text, "user": user["id"], "ts": ts, "team": "T0ACME",
        "user_team": "T0ACME", "source_team": "T0ACME",
        "user_profile": {"avatar_hash": profile["avatar_hash"],
                         "image_72": "https://avatars.slack-edge.com/2023-01-01/"
                                     f"{profile['avatar_hash']}_72.png",
                         "first_name": user["real_name"].split()[0], "real_name": user["real_name"],
                         "display_name": profile["display_name"], "team": "T0ACME", "name": user["name"],
                         "is_restricted": False, "is_ultra_restricted": False},
        "blocks": [{"type": "rich_text", "block_id": f"{rng.getrandbits(20):05x}",
                    "elements": [{"type": "rich_text_section",
                                  "elements": [{"type": "text", "text": text[:120]}]}]}],
    }


def _text(rng: random.Random, people: list[dict]) -> str:
    text = _words(rng, 4, 24)
    roll = rng.random()
    if roll < 0.10:
        text = f"<@{rng.choice(people)['id']}> {text}"
    elif roll < 0.16:
        text += (f" <https://grafana.acme.example/d/{rng.getrandbits(24):06x}"
                 "?from=now-1h&amp;to=now|dashboard>")
    elif roll < 0.19:
        text = "<!here> " + text
    elif roll < 0.22:
        text += " &amp; " + _words(rng, 2, 6)
    return text


def generate_slack(folder: Path, n_messages: int, *, channels: int = 40, seed: int = 3) -> tuple[Path, int]:
    """An unpacked export: `channels` incident channels holding `n_messages` messages in all
    (joins, bots, threads, files, topics), two chatty non-incident channels, users and channel
    lists. Returns the export folder and the number of incident-channel messages."""
    rng = random.Random(seed)
    export = folder / "slack-export"
    export.mkdir(parents=True)
    people = [_slack_user(i, rng) for i in range(320)]
    bot_users = [{"id": f"U0BOT{i:04d}", "team_id": "T0ACME", "name": name.lower(), "deleted": False,
                  "real_name": name, "profile": {"real_name": name, "display_name": "", "bot_id": bot_id},
                  "is_bot": True, "is_app_user": False, "updated": 1700000000}
                 for i, (bot_id, name) in enumerate(BOTS)]
    (export / "users.json").write_bytes(orjson.dumps(people + bot_users, option=orjson.OPT_INDENT_2))
    per_channel = [n_messages // channels + (1 if i < n_messages % channels else 0) for i in range(channels)]
    listing = []
    start = datetime(2024, 1, 3, 9, 0, tzinfo=timezone.utc)
    written = 0
    for c in range(channels):
        opened = start + timedelta(days=7 * c)
        if c % 4 == 3:  # incident.io's naming
            name = f"inc-{opened.date()}-{rng.choice(SLUGS).split('-')[0]}-{c}"
        else:
            name = f"inc-{4000 + c}-{rng.choice(SLUGS)}"
        channel_id = f"C{c + 1:08X}"
        members = rng.sample(people, rng.randint(8, 40))
        listing.append({"id": channel_id, "name": name, "created": int(opened.timestamp()),
                        "creator": members[0]["id"], "is_archived": True, "is_general": False,
                        "members": [m["id"] for m in members],
                        "topic": {"value": "", "creator": "", "last_set": 0},
                        "purpose": {"value": "", "creator": "", "last_set": 0}})
        written += _write_channel(export / name, per_channel[c], members, people, opened, rng)
    for c, name in enumerate(("general", "random")):
        listing.append({"id": f"C9{c:07X}", "name": name, "created": 1600000000, "creator": people[0]["id"],
                        "is_archived": False, "is_general": name == "general",
                        "members": [p["id"] for p in people],
                        "topic": {"value": "", "creator": "", "last_set": 0},
                        "purpose": {"value": "", "creator": "", "last_set": 0}})
        _write_channel(export / name, 500, people[:50], people, start, rng)
    (export / "channels.json").write_bytes(orjson.dumps(listing, option=orjson.OPT_INDENT_2))
    return export, written


def _write_channel(folder: Path, n: int, members: list[dict], people: list[dict], start: datetime,
                   rng: random.Random) -> int:
    """n messages over a few days: members join first, then talk, bots post, threads grow."""
    folder.mkdir()
    days = max(1, min(10, n // 600))
    per_day = [n // days + (1 if i < n % days else 0) for i in range(days)]
    joined: list[dict] = []
    threads: list[str] = []
    count = 0
    for d, size in enumerate(per_day):
        day_start = start + timedelta(days=d)
        clock = day_start.timestamp() + rng.randint(0, 3600)
        step = max(1.0, (80_000 - (clock - day_start.timestamp())) / max(size, 1))
        messages = []
        for _ in range(size):
            clock += rng.uniform(0.2, 2 * step)
            ts = f"{int(clock)}.{rng.randint(0, 999999):06d}"
            not_joined = len(joined) < len(members)
            roll = rng.random()
            if not_joined and (roll < 0.06 or not joined):
                user = members[len(joined)]
                joined.append(user)
                messages.append({"type": "message", "subtype": "channel_join", "ts": ts, "user": user["id"],
                                 "text": f"<@{user['id']}> has joined the channel"})
            elif roll < 0.14:
                bot_id, name = rng.choice(BOTS)
                title = f"[FIRING:{rng.randint(1, 4)}] {_words(rng, 2, 5)}"
                messages.append({"type": "message", "subtype": "bot_message", "text": "", "ts": ts,
                                 "username": name, "bot_id": bot_id,
                                 "attachments": [{
                                     "id": 1, "color": "d63232", "fallback": title, "title": title,
                                     "title_link": f"https://{name.lower()}.example/i/{rng.getrandbits(32):x}",
                                     "text": _words(rng, 5, 15)}]})
            else:
                user = rng.choice(joined)
                message = _user_message(user, ts, _text(rng, people), rng)
                if threads and roll < 0.30:
                    message["thread_ts"] = rng.choice(threads[-20:])
                    message["parent_user_id"] = rng.choice(joined)["id"]
                    if roll < 0.15:
                        message["subtype"] = "thread_broadcast"
                elif roll < 0.36:
                    threads.append(ts)
                    message["thread_ts"] = ts
                    message["reply_count"] = rng.randint(1, 6)
                    message["reply_users"] = [rng.choice(joined)["id"]]
                elif roll < 0.37:
                    message["subtype"] = "file_share"
                    message["files"] = [{"id": f"F{rng.getrandbits(40):010X}", "name": "graph.png",
                                         "title": "graph.png", "mimetype": "image/png",
                                         "permalink": "https://acme.slack.com/files/graph.png"}]
                elif roll < 0.372:
                    message = {"type": "message", "subtype": "channel_topic", "ts": ts, "user": user["id"],
                               "text": f"<@{user['id']}> set the channel topic: {_words(rng, 3, 8)}",
                               "topic": "SEV2"}
                if rng.random() < 0.08:
                    message["reactions"] = [{"name": "eyes", "users": [user["id"]], "count": 1}]
                messages.append(message)
        (folder / f"{day_start.date()}.json").write_bytes(orjson.dumps(messages, option=orjson.OPT_INDENT_2))
        count += len(messages)
    return count


# --- Alertmanager webhook log ------------------------------------------------------------------

ALERTS = [("KubePodCrashLooping", "warning", "Pod {ns}/{pod} is crash looping"),
          ("KubeDeploymentReplicasMismatch", "warning", "Deployment {ns}/{svc} has not matched replicas"),
          ("HighErrorRate", "critical", "{svc} 5xx ratio above 5%"),
          ("HighLatencyP99", "error", "{svc} p99 latency above 1s"),
          ("NodeFilesystemAlmostFull", "warning", "Filesystem on {inst} has less than 10% left"),
          ("NodeMemoryPressure", "warning", "Memory pressure on {inst}"),
          ("TargetDown", "critical", "{svc} target is down"),
          ("KafkaConsumerLag", "error", "Consumer group {svc} lags"),
          ("PostgresReplicationLag", "critical", "Replication lag on {inst} above 30s"),
          ("CertificateExpiringSoon", "info", "Certificate for {svc} expires in 7 days")]
SERVICES = ["checkout", "payments", "search", "cart", "auth", "catalog", "shipping", "email",
            "inventory", "pricing", "reviews", "gateway"]
JOB_KINDS = ["api", "worker", "consumer", "cron", "gateway"]
TEAMS = {"checkout": "payments", "payments": "payments", "search": "discovery", "cart": "payments",
         "auth": "identity", "catalog": "discovery", "shipping": "logistics", "email": "platform",
         "inventory": "logistics", "pricing": "discovery", "reviews": "discovery", "gateway": "platform"}


def _stamp(seconds: float, rng: random.Random) -> str:
    """Alertmanager's RFC 3339 with nanoseconds (Go prints 0-9 digits)."""
    whole = datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    digits = rng.choice((9, 9, 9, 6, 3, 0))
    if digits == 0:
        return whole + "Z"
    return f"{whole}.{rng.randrange(10 ** digits):0{digits}d}Z"


class _Group:
    """One Alertmanager group: episodes of alerts that fire, grow, repeat and resolve."""

    def __init__(self, i: int, rng: random.Random) -> None:
        self.rng = rng
        self.alertname, self.severity, self.text = ALERTS[i % len(ALERTS)]
        self.service = SERVICES[(i // len(ALERTS)) % len(SERVICES)]
        # Many deployables per service: a group per alert rule and job, as `group_by: [alertname, job]`.
        self.job = f"{self.service}-{JOB_KINDS[(i // 120) % len(JOB_KINDS)]}-{i // 600:02d}"
        self.team = TEAMS[self.service]
        self.receiver = f"{self.team}-{'pager' if self.severity == 'critical' else 'slack'}"
        self.group_labels = {"alertname": self.alertname, "job": self.job}
        self.group_key = f'{{}}/{{team="{self.team}"}}:{{alertname="{self.alertname}", job="{self.job}"}}'
        self.alerts: list[dict] = []
        self.last: bytes | None = None

    def _alert(self, now: float) -> dict:
        rng = self.rng
        instance = f"10.{rng.randint(0, 9)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}:9100"
        labels = {"alertname": self.alertname, "instance": instance, "job": self.job,
                  "severity": self.severity}
        summary = self.text.format(ns=self.team, pod=f"{self.job}-{rng.getrandbits(20):05x}",
                                   svc=self.job, inst=instance)
        return {"status": "firing", "labels": labels, "annotations": {"summary": summary},
                "startsAt": _stamp(now - rng.uniform(30, 300), rng), "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": f"http://prometheus-0:9090/graph?g0.expr={self.alertname}",
                # Alertmanager's fingerprint is a hash of the label set.
                "fingerprint": hashlib.blake2b(orjson.dumps(labels, option=orjson.OPT_SORT_KEYS),
                                               digest_size=8).hexdigest()}

    def notify(self, now: float) -> bytes:
        rng = self.rng
        roll = rng.random()
        if self.last is not None and roll < 0.12:
            return self.last  # a retried delivery or a repeat_interval notification: the same bytes
        if not self.alerts:
            self.alerts = [self._alert(now)]
        elif roll < 0.15 and len(self.alerts) < 2:
            self.alerts.append(self._alert(now))
        else:
            firing = [a for a in self.alerts if a["status"] == "firing"]
            victim = rng.choice(firing)
            victim.update(status="resolved", endsAt=_stamp(now, rng))
        status = "firing" if any(a["status"] == "firing" for a in self.alerts) else "resolved"
        common = {k: v for k, v in self.alerts[0]["labels"].items()
                  if all(a["labels"].get(k) == v for a in self.alerts)}
        payload = {"receiver": self.receiver, "status": status, "alerts": self.alerts,
                   "groupLabels": self.group_labels, "commonLabels": common,
                   "commonAnnotations": ({"summary": self.alerts[0]["annotations"]["summary"]}
                                         if len(self.alerts) == 1 else {}),
                   "externalURL": "http://alertmanager-0:9093", "version": "4",
                   "groupKey": self.group_key, "truncatedAlerts": 0}
        self.last = orjson.dumps(payload)
        if status == "resolved":
            self.alerts = []
        return self.last


def generate_alertmanager(folder: Path, n_lines: int, *, seed: int = 5) -> Path:
    """A receiver's JSON-lines log of `n_lines` notifications from ~n/200 groups."""
    rng = random.Random(seed)
    groups = [_Group(i, rng) for i in range(max(1, n_lines // 200))]
    path = folder / "alertmanager-webhooks.jsonl"
    now = datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()
    with path.open("wb", buffering=1 << 20) as out:
        for _ in range(n_lines):
            now += rng.uniform(0.5, 60)
            out.write(rng.choice(groups).notify(now) + b"\n")
    return path


# --- measuring ---------------------------------------------------------------------------------

def child_ingest(source: str, path: str, db: str) -> int:
    """Entry of the child process: one ingest, its time and result as JSON on stdout."""
    from review_kit.store.ingest import ingest_paths
    from review_kit.store import Store
    store = Store.open(db)
    start = time.perf_counter()
    result = ingest_paths(store, source, [path], quiet=True)
    seconds = time.perf_counter() - start
    store.close()
    print(json.dumps({"seconds": seconds, "events_added": result.events_added,
                      "events_seen": result.events_seen, "incidents": len(result.incident_ids)}))
    return 0


def run_child(source: str, path: Path, db: Path) -> tuple[dict, int]:
    """The ingest in a fresh interpreter; (its report, its peak RSS in bytes)."""
    process = subprocess.Popen([sys.executable, __file__, "--child", source, str(path), str(db)],
                               stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
    output = process.stdout.read()
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{source} ingest failed (exit {process.returncode})")
    return json.loads(output.decode().strip().splitlines()[-1]), usage.ru_maxrss * 1024  # KiB on Linux


def parse_lines(path: Path) -> int:
    """The parse half of a JSON-lines floor: every line through orjson, nothing kept."""
    lines = 0
    loads = orjson.loads
    with path.open("rb", buffering=1 << 20) as handle:
        for line in handle:
            if line.strip():
                loads(line)
                lines += 1
    return lines


def bare_insert_from(db: Path, folder: Path) -> tuple[float, int]:
    """The insert half of the floor: the store's own rows, executemany'd in chunks into an
    unindexed table. Only the executemany calls are timed (reading the store is not work an
    ingest does)."""
    target_path = folder / "floor.db"
    target_path.unlink(missing_ok=True)
    target = sqlite3.connect(target_path)
    target.execute("PRAGMA journal_mode=WAL")
    target.execute("PRAGMA synchronous=NORMAL")
    from review_kit.model import EVENT_COLUMNS
    target.execute(f"CREATE TABLE events ({', '.join(EVENT_COLUMNS)})")
    insert = f"INSERT INTO events VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
    source = sqlite3.connect(db)
    cursor = source.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events")
    seconds, rows = 0.0, 0
    while chunk := cursor.fetchmany(INSERT_CHUNK):
        start = time.perf_counter()
        target.executemany(insert, chunk)
        seconds += time.perf_counter() - start
        rows += len(chunk)
    start = time.perf_counter()
    target.commit()
    seconds += time.perf_counter() - start
    source.close()
    target.close()
    target_path.unlink(missing_ok=True)
    return seconds, rows


def measure(label: str, source: str, path: Path, parse, work: Path) -> dict:
    from bench_core import timed
    db = work / f"{source}.db"
    db.unlink(missing_ok=True)
    (report, peak), wall = timed(f"{label}: ingest in a child process", run_child, source, path, db)
    _, parse_seconds = timed(f"{label}: floor: orjson parse", parse)
    (insert_seconds, rows), _ = timed(f"{label}: floor: bare executemany", bare_insert_from, db, work)
    assert rows == report["events_added"], (rows, report)
    db.unlink(missing_ok=True)
    return {"label": label, "events": report["events_added"], "seconds": report["seconds"],
            "wall": wall, "parse": parse_seconds, "insert": insert_seconds, "peak": peak,
            "incidents": report["incidents"]}


def profile(label: str, source: str, path: Path, work: Path, top: int) -> None:
    from review_kit.store.ingest import ingest_paths
    from review_kit.loaders import loaders
    from review_kit.store import Store
    loaders.all()  # discovering the loaders (imports) is a one-off, not the ingest's cost
    db = work / f"profile-{source}.db"
    db.unlink(missing_ok=True)
    store = Store.open(db)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    result = ingest_paths(store, source, [path], quiet=True)
    profiler.disable()
    elapsed = time.perf_counter() - start
    store.close()
    db.unlink(missing_ok=True)
    print(f"\nprofile: {label}: {result.events_added:,} events in {elapsed:.2f} s under cProfile")
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(order)
        stats.print_stats(top)
        body = text.getvalue()
        print(f"  top {top} by {order}:")
        print("\n".join("    " + line for line in body[body.find("ncalls"):].rstrip().splitlines()))


def report_line(r: dict) -> str:
    floor = r["parse"] + r["insert"]
    rate = r["events"] / r["seconds"]
    mark = lambda ok: "ok" if ok else "MISSED"  # noqa: E731
    return (f"  {r['label']}: {r['events']:,} events ({r['incidents']:,} incidents) in "
            f"{r['seconds']:.2f} s = {rate:,.0f} events/s [{mark(rate >= GOAL_RATE)}]; "
            f"floor {floor:.2f} s (parse {r['parse']:.2f} + insert {r['insert']:.2f}) = "
            f"{r['events'] / floor:,.0f} events/s; ratio {r['seconds'] / floor:.2f}x; "
            f"peak memory {r['peak'] / 2**20:,.0f} MB [{mark(r['peak'] < GOAL_PEAK_BYTES)}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slack-messages", type=int, default=200_000)
    parser.add_argument("--alert-lines", type=int, default=1_000_000)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="afterwards, profile each ingest (quarter-size inputs), top N functions")
    parser.add_argument("--keep", type=Path, default=None, help="keep the work folder here")
    parser.add_argument("--child", nargs=3, metavar=("SOURCE", "PATH", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_ingest(*args.child)
    # bench_core brings papermill and nbformat along: the parent's business, never the child's
    # (whose time and memory are the measurement).
    from bench_core import parse_inputs, timed
    work = Path(tempfile.mkdtemp(prefix="review-kit-bench-loaders-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}")
    try:
        print("generate")
        (export, messages), _ = timed(f"slack export, {args.slack_messages:,} messages", generate_slack,
                                      work / "slack", args.slack_messages)
        (work / "alertmanager").mkdir(exist_ok=True)
        log, _ = timed(f"alertmanager log, {args.alert_lines:,} lines", generate_alertmanager,
                       work / "alertmanager", args.alert_lines)
        size = sum(p.stat().st_size for p in export.rglob("*.json"))
        files = sum(1 for _ in export.rglob("*.json"))
        print(f"  slack export {size / 2**20:,.0f} MB in {files:,} files; "
              f"alertmanager log {log.stat().st_size / 2**20:,.0f} MB")

        print("measure")
        # What the loader reads: users.json, channels.json and the incident channels' days.
        day_files = [("slack", p) for p in sorted(export.rglob("*.json"))
                     if p.parent == export or p.parent.name.startswith("inc-")]
        slack = measure("slack", "slack", export, lambda: parse_inputs(day_files), work)
        alerts = measure("alertmanager", "alertmanager", log, lambda: parse_lines(log), work)

        print("\nresults  [goal >= 100,000 events/s and peak memory < 1 GB]")
        print(report_line(slack))
        print(report_line(alerts))
        print(f"  ({args.alert_lines:,} alertmanager lines read at "
              f"{args.alert_lines / alerts['seconds']:,.0f} lines/s; "
              f"{messages:,} slack messages in incident channels)")

        if args.profile:
            small = work / "profile"
            small.mkdir(exist_ok=True)
            (small / "am").mkdir(exist_ok=True)
            export_small, _ = generate_slack(small, max(1, args.slack_messages // 4))
            log_small = generate_alertmanager(small / "am", max(1, args.alert_lines // 4))
            profile("slack", "slack", export_small, small, args.profile)
            profile("alertmanager", "alertmanager", log_small, small, args.profile)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
