"""Burst benchmark: N signed PagerDuty deliveries on loopback, some duplicated, some malformed,
sent by a process of their own.

    .venv/bin/python benchmarks/bench_server.py [--deliveries 1000] [--duplicates 20]
                                                [--malformed 10] [--clients 8]

Every good delivery must be stored once, every malformed one refused with 400, every
resolution queued once. Prints throughput and the p50/p99 time to acknowledge (202).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sqlite3
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from review_kit.automation.server import Receiver, RunningServer, ServerSettings, pagerduty_signature
from review_kit.store import Store

SECRET = "bench-secret-0f3c"


def pagerduty_event(event_id: str, event_type: str, incident: int, occurred_at: str) -> dict:
    """A Webhooks v3 delivery in PagerDuty's shape (FORMATS.md)."""
    pd_id = f"PBENCH{incident:05d}"
    status = {"incident.resolved": "resolved", "incident.acknowledged": "acknowledged"}.get(event_type, "triggered")
    return {"event": {
        "id": event_id, "event_type": event_type, "resource_type": "incident",
        "occurred_at": occurred_at,
        "agent": {"html_url": "https://acme.pagerduty.com/users/PUSER01", "id": "PUSER01",
                  "self": "https://api.pagerduty.com/users/PUSER01", "summary": "Dana Whitfield",
                  "type": "user_reference"},
        "client": None,
        "data": {"id": pd_id, "type": "incident", "self": f"https://api.pagerduty.com/incidents/{pd_id}",
                 "html_url": f"https://acme.pagerduty.com/incidents/{pd_id}", "number": 9000 + incident,
                 "status": status, "title": f"Checkout latency above SLO ({incident})",
                 "service": {"html_url": "https://acme.pagerduty.com/services/PSVC001", "id": "PSVC001",
                             "self": "https://api.pagerduty.com/services/PSVC001", "summary": "checkout-api",
                             "type": "service_reference"},
                 "assignees": [], "escalation_policy": {"id": "PESC001", "summary": "Checkout on-call",
                                                        "type": "escalation_policy_reference"},
                 "teams": [{"id": "PTEAM01", "summary": "Payments", "type": "team_reference"}],
                 "priority": {"id": "PPRIO01", "summary": "P2", "type": "priority_reference"},
                 "urgency": "high", "conference_bridge": None, "resolve_reason": None}}}


@dataclass
class Burst:
    bodies: list[bytes]
    kinds: list[str]          # good | duplicate | malformed
    good_events: int
    resolutions: int


def make_burst(deliveries: int, duplicates: int, malformed: int, seed: int = 1) -> Burst:
    """Incidents of three deliveries each (triggered, acknowledged, resolved), then copies of
    some good deliveries and some broken bodies, shuffled."""
    rng = random.Random(seed)
    good = deliveries - duplicates - malformed
    bodies, kinds, resolutions = [], [], 0
    for i in range(good):
        incident, step = divmod(i, 3)
        event_type = ("incident.triggered", "incident.acknowledged", "incident.resolved")[step]
        minute = 10 * step
        stamp = f"2024-05-{1 + incident % 28:02d}T{incident % 24:02d}:{minute:02d}:00.{i % 1000:03d}Z"
        bodies.append(json.dumps(pagerduty_event(f"01BENCH{i:019d}", event_type, incident, stamp)).encode())
        kinds.append("good")
        resolutions += event_type == "incident.resolved"
    for body in rng.sample(bodies, duplicates):
        bodies.append(body)
        kinds.append("duplicate")
    broken = [b'{"event": {"event_type": "incident.resolved"', b"not json at all",
              b'{"messages": []}', b'{"event": {"id": "X", "event_type": "incident.resolved", '
              b'"resource_type": "incident", "occurred_at": "yesterday", "data": {"id": "PX", "type": "incident"}}}',
              b'{"event": {"id": "Y", "event_type": "incident.triggered", "resource_type": "incident", '
              b'"occurred_at": "2024-05-01T10:00:00Z", "data": "PX"}}']
    for j in range(malformed):
        bodies.append(broken[j % len(broken)])
        kinds.append("malformed")
    order = list(range(len(bodies)))
    rng.shuffle(order)
    return Burst([bodies[k] for k in order], [kinds[k] for k in order], good, resolutions)


def deliver(url: str, burst: Burst, clients: int) -> tuple[list[int], list[float], float]:
    """POST every body signed, `clients` at a time; statuses, latencies (s), wall time (s)."""
    local = httpx.Client(base_url=url, timeout=30)
    pool = [httpx.Client(base_url=url, timeout=30) for _ in range(clients)]

    def send(index: int) -> tuple[int, float]:
        body = burst.bodies[index]
        started = time.perf_counter()
        response = pool[index % clients].post(
            "/webhooks/pagerduty", content=body,
            headers={"Content-Type": "application/json",
                     "X-PagerDuty-Signature": pagerduty_signature(SECRET, body)})
        return response.status_code, time.perf_counter() - started

    started = time.perf_counter()
    # One thread per client connection, so each connection carries one request at a time.
    with ThreadPoolExecutor(clients) as executor:
        results = list(executor.map(send, range(len(burst.bodies))))
    wall = time.perf_counter() - started
    for client in [local, *pool]:
        client.close()
    return [s for s, _ in results], [t for _, t in results], wall


def deliver_from_another_process(url: str, burst: Burst, clients: int) -> tuple[list[int], list[float], float]:
    """`deliver`, run by a process of its own, as PagerDuty's servers would send: in the
    receiver's process, the clients' Python would take turns with the receiver's for the
    one interpreter lock, and the benchmark would time both."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(deliver, (url, burst, clients))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def run(deliveries: int, duplicates: int, malformed: int, clients: int, folder: Path,
        threads: int | None = None) -> dict:
    from review_kit.automation.queue import list_runs
    store = Store.open(folder / "review.db")
    burst = make_burst(deliveries, duplicates, malformed)
    settings = ServerSettings(pagerduty_secret=SECRET, port=0, ingest_threads=threads)
    with RunningServer(Receiver(store, settings)) as server:
        statuses, latencies, wall = deliver_from_another_process(server.url, burst, clients)
    accepted = [t for s, t in zip(statuses, latencies) if s == 202]
    counts = store.counts()
    runs = list_runs(store)
    return {
        "deliveries": len(burst.bodies), "accepted": statuses.count(202), "refused_400": statuses.count(400),
        "other": len(statuses) - statuses.count(202) - statuses.count(400),
        "malformed_refused": sum(1 for s, k in zip(statuses, burst.kinds) if k == "malformed" and s == 400),
        "events_stored": counts["events"], "good_events": burst.good_events,
        "runs": len(runs), "resolutions": burst.resolutions,
        "distinct_run_keys": runs["dedup_key"].nunique() if len(runs) else 0,
        "throughput_per_s": len(statuses) / wall, "wall_s": wall,
        "p50_ms": 1000 * percentile(accepted, 50), "p99_ms": 1000 * percentile(accepted, 99),
    }


def per_delivery(count: int, folder: Path) -> tuple[float, float]:
    """Median seconds of one delivery's ingest (Receiver.accept: parse, store, queue; no
    HTTP), and of its floor measured beside it: the body parsed and one row written in
    one SQLite transaction (WAL, synchronous=NORMAL), as bare as a delivery can be stored."""
    store = Store.open(folder / "accept.db")
    receiver = Receiver(store, ServerSettings(pagerduty_secret=SECRET))
    burst = make_burst(count + 30, 0, 0, seed=2)
    floor_db = sqlite3.connect(folder / "floor.db", isolation_level=None)
    floor_db.execute("PRAGMA journal_mode=WAL")
    floor_db.execute("PRAGMA synchronous=NORMAL")
    floor_db.execute("CREATE TABLE deliveries (id TEXT, body TEXT)")
    accepted, floors = [], []
    for i, body in enumerate(burst.bodies):  # interleaved: a slow spell hits both alike
        started = time.perf_counter()
        receiver.accept("pagerduty", body)
        middle = time.perf_counter()
        document = orjson.loads(body)
        floor_db.execute("BEGIN IMMEDIATE")
        floor_db.execute("INSERT INTO deliveries VALUES (?, ?)", (document["event"]["id"], body.decode()))
        floor_db.execute("COMMIT")
        ended = time.perf_counter()
        if i >= 30:  # the first few warm the caches
            accepted.append(middle - started)
            floors.append(ended - middle)
    floor_db.close()
    store.close()
    return statistics.median(accepted), statistics.median(floors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--duplicates", type=int, default=20)
    parser.add_argument("--malformed", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="ingest threads (default: auto)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = run(args.deliveries, args.duplicates, args.malformed, args.clients, Path(folder),
                     args.threads)
        ingest_s, floor_s = per_delivery(300, Path(folder))
    for key, value in result.items():
        print(f"{key:>18}: {value:.1f}" if isinstance(value, float) else f"{key:>18}: {value}")
    ok = (result["events_stored"] == result["good_events"] and result["runs"] == result["resolutions"]
          and result["malformed_refused"] == args.malformed and result["other"] == 0)
    print("accounted for" if ok else "NOT ACCOUNTED FOR")
    print(f"\nthroughput {result['throughput_per_s']:.0f} deliveries/s [goal >= 200]; p99 acknowledgement "
          f"{result['p99_ms']:.1f} ms [goal < 100 ms]")
    print(f"per-delivery ingest (median of 300, no HTTP): {1000 * ingest_s:.2f} ms [goal < 5 ms]; "
          f"floor (parse + one-row SQLite transaction) {1000 * floor_s:.2f} ms: ratio {ingest_s / floor_s:.1f}x")


if __name__ == "__main__":
    main()
