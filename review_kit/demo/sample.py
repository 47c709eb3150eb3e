"""A seeded, realistic year of incidents, written as real PagerDuty API and CSV exports.

The demo and the benchmarks ingest these files through the real loaders, so everything here
is in the sources' own shapes: `GET /incidents` pages, `GET /incidents/{id}/log_entries`
pages (newest first, several entries sharing one second) and the project's CSV events and
incidents files. The same seed always gives byte-identical files.

>>> files = generate_sample(Path("sample"), n_incidents=200, seed=42)   # doctest: +SKIP
>>> files.ingest[0]                                                      # doctest: +SKIP
('pagerduty', PosixPath('sample/pagerduty/incidents.json'))
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..model import parse_timestamp

__all__ = ["SampleFiles", "generate_sample", "SERVICES", "TEAMS",
           "COMMANDERS", "SEVERITY_SHARES"]

UTC = timezone.utc
DEFAULT_START = datetime(2025, 11, 1, tzinfo=UTC)

# SEV1..SEV4 shares of all incidents: what a mid-sized product company pages on in a year.
SEVERITY_SHARES: tuple[float, ...] = (0.05, 0.20, 0.45, 0.30)

# Team → on-call rotation (four people each, primary rotates weekly).
TEAMS: dict[str, tuple[str, ...]] = {
    "Payments": ("Priya Raman", "Marcus Webb", "Elena Petrova", "Tomás Álvarez"),
    "Discovery": ("Hannah Okafor", "Daniel Kim", "Sofia Lindqvist", "Rahul Mehta"),
    "Identity": ("Grace Liu", "Oliver Brandt", "Amara Nwosu", "Jakub Nowak"),
    "Fulfilment": ("Chloe Martin", "Ethan Brooks", "Yuki Tanaka", "Fatima Haddad"),
    "Web Platform": ("Lucas Moreau", "Isabel Costa", "Noah Fischer", "Zoe Adeyemi"),
}
# The incident-commander rotation for SEV1/SEV2 (SRE leads, not on a service rotation).
COMMANDERS: tuple[str, ...] = ("Rachel Stein", "Samuel Osei")
# People who write their own timestamps in local summer time (+02:00) in the CSV log:
# the loaders must convert them.
LOCAL_OFFSET_PEOPLE = frozenset({"Oliver Brandt", "Noah Fischer", "Jakub Nowak"})


@dataclass(frozen=True)
class _Service:
    name: str
    team: str
    weight: float
    # (title template, how often it recurs, variants): `{}` takes one of the variants.
    titles: tuple[tuple[str, float, tuple[str, ...]], ...]


# Title templates repeat with small variations, as real recurring incidents do, so the
# trend report's recurrence analysis has groups to find.
SERVICES: tuple[_Service, ...] = (
    _Service("checkout-api", "Payments", 0.22, (
        ("Checkout API p99 latency above {}", 5, ("2s", "3s", "5s")),
        ("Checkout API 5xx error rate above {}", 3, ("2%", "5%")),
        ("checkout-api pods crash-looping in {}", 1, ("eu-west-1", "us-east-1")),
        ("Checkout: order submission failing for {} users", 1, ("PayPal", "Apple Pay")),
    )),
    _Service("payments", "Payments", 0.15, (
        ("Payments: card authorisation failures above {}", 4, ("3%", "5%")),
        ("Payment provider webhook backlog above {}", 2, ("10k", "50k")),
        ("Refund job not processing ({})", 1, ("stuck lock", "provider timeout")),
    )),
    _Service("search", "Discovery", 0.14, (
        ("Search p95 latency above {}", 4, ("800ms", "1s")),
        ("Search index lagging catalog by more than {}", 3, ("30 min", "60 min")),
        ("Elasticsearch cluster {}: unassigned shards", 2, ("yellow", "red")),
    )),
    _Service("auth", "Identity", 0.12, (
        ("Auth: login error rate above {}", 4, ("2%", "5%")),
        ("Token refresh failures for {} clients", 2, ("iOS", "Android")),
        ("SSO callback timeouts for {} tenants", 1, ("enterprise", "EU")),
    )),
    _Service("api-gateway", "Identity", 0.08, (
        ("API gateway 502s in {}", 3, ("eu-west-1", "us-east-1")),
        ("API gateway TLS handshake failures from {} clients", 2, ("Android", "partner")),
        ("Rate limiter rejecting legitimate {} traffic", 1, ("mobile", "partner")),
    )),
    _Service("notifications", "Fulfilment", 0.10, (
        ("Notification email queue backlog above {}", 4, ("50k", "100k")),
        ("Push notifications delayed by more than {}", 3, ("10 min", "15 min")),
        ("SMS provider returning {}", 1, ("429s", "503s")),
    )),
    _Service("inventory", "Fulfilment", 0.09, (
        ("Inventory sync job failed ({})", 4, ("warehouse feed", "supplier feed")),
        ("Inventory API stock reservation errors above {}", 2, ("1%", "3%")),
        ("Inventory DB replica lag above {}", 2, ("30s", "60s")),
    )),
    _Service("web-frontend", "Web Platform", 0.10, (
        ("Web frontend 5xx on {} pages", 3, ("product", "category")),
        ("CDN cache hit ratio below {}", 2, ("70%", "80%")),
        ("JS error spike on {} page", 2, ("checkout", "basket")),
    )),
)

_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
PD_API = "https://api.pagerduty.com"
PD_WEB = "https://acme-shop.pagerduty.com"
PAGE_LIMIT = 100


@dataclass
class SampleFiles:
    """Where `generate_sample` wrote the history, and in which order the demo ingests it.

    ingest: (loader name, path) pairs in ingest order, for `get_loader(name).load(path, ctx)`.
    demo_incident_id: a resolved SEV1 with a rich timeline (escalation, reassignment, status
    updates, several responders) for the demo retrospective.
    counts: what was written (incidents, log_entries, comms_events, open, reopened…), so
    tests and the demo can check what a store should hold after ingest.
    """

    root: Path
    pagerduty_incidents: Path
    pagerduty_log_entries: Path
    csv_incidents: Path
    csv_events: Path
    ingest: list[tuple[str, Path]]
    demo_incident_id: str
    counts: dict[str, int] = field(default_factory=dict)


# --- randomness ------------------------------------------------------------------------------
class _Dice:
    """Scalar draws for the incidents' narratives, taken from blocks of one numpy Generator.

    Calling the Generator once per scalar costs microseconds; drawing a block and walking it
    in Python keeps 10,000 narratives fast while staying a pure function of the seed.
    """

    __slots__ = ("_rng", "_u", "_i")

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._u: list[float] = []
        self._i = 0

    def u(self) -> float:
        if self._i >= len(self._u):
            self._u, self._i = self._rng.random(4096).tolist(), 0
        self._i += 1
        return self._u[self._i - 1]

    def many(self, k: int) -> np.ndarray:
        """k uniforms at once, straight from the Generator (for vectorised padding)."""
        return self._rng.random(k)

    def chance(self, p: float) -> bool:
        return self.u() < p

    def pick(self, items: Sequence[Any]) -> Any:
        return items[min(int(self.u() * len(items)), len(items) - 1)]

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self.u()


def _pd_ids(rng: np.random.Generator, n: int, length: int, prefix: str,
            taken: set[str]) -> list[str]:
    """n distinct PagerDuty-like ids (`P` + uppercase alphanumerics), none already taken."""
    out: list[str] = []
    while len(out) < n:
        block = _ALPHABET[rng.integers(0, 36, size=(max(n - len(out), 1) * 2, length))]
        for raw in block.view(f"S{length}").ravel().tolist():
            candidate = prefix + raw.decode()
            if candidate not in taken:
                taken.add(candidate)
                out.append(candidate)
                if len(out) == n:
                    break
    return out


def _log_entry_ids(rng: np.random.Generator, n: int) -> list[str]:
    # Real log entry ids are 26 characters (`R` + 25); at 36**25 a collision is not a concern.
    block = _ALPHABET[rng.integers(0, 36, size=(n, 25))]
    return ["R" + raw.decode() for raw in block.view("S25").ravel().tolist()]


def _plus_two(epoch_seconds: int) -> str:
    """The same instant as local summer time in Berlin or Warsaw: `…T14:05:00+02:00`."""
    local = datetime.fromtimestamp(epoch_seconds, tz=timezone(timedelta(hours=2)))
    return local.isoformat()


def _iso_z(epoch_seconds: np.ndarray) -> list[str]:
    """Epoch seconds as `YYYY-MM-DDTHH:MM:SSZ`, vectorised (a million strftime calls are slow)."""
    text = np.datetime_as_string(np.asarray(epoch_seconds, dtype="datetime64[s]"), unit="s")
    return np.char.add(text, "Z").tolist()


# --- the plan: one row per incident, drawn vectorised --------------------------------------------
@dataclass
class _Plan:
    n: int
    t0: np.ndarray            # trigger time, epoch seconds
    severity: np.ndarray      # 1..4
    service: np.ndarray       # index into SERVICES
    title_template: np.ndarray
    title_variant: np.ndarray
    ack: np.ndarray           # seconds after trigger
    mitigate: np.ndarray
    resolve: np.ndarray
    impact_lead: np.ndarray   # seconds of impact before the trigger
    has_impact_mark: np.ndarray
    deploy_before: np.ndarray
    rollback: np.ndarray
    auto_resolved: np.ndarray  # never acknowledged: a flapping alert that cleared itself
    manual_escalation: np.ndarray
    reassign: np.ndarray
    reopen: np.ndarray        # 0 no, 1 reopened and resolved again, 2 reopened and still open
    reopen_gap: np.ndarray
    second_resolve: np.ndarray
    still_open: np.ndarray    # left open at the export time
    priority_null: np.ndarray
    urgency_high: np.ndarray
    raised_from_sev3: np.ndarray
    public_updates: np.ndarray
    showcase: int


def _plan(rng: np.random.Generator, n: int, start: int, end: int) -> _Plan:
    counts = np.floor(np.asarray(SEVERITY_SHARES) * n + 0.5).astype(int)
    counts[2] += n - counts.sum()
    if counts[0] == 0:   # the demo needs a SEV1, however small the sample
        counts[int(np.argmax(counts))] -= 1
        counts[0] = 1
    severity = rng.permutation(np.repeat(np.arange(1, 5), counts))

    weights = np.array([s.weight for s in SERVICES])
    service = rng.choice(len(SERVICES), size=n, p=weights / weights.sum())
    title_u, variant_u = rng.random(n), rng.random(n)
    title_template = np.empty(n, dtype=np.int64)
    for k, svc in enumerate(SERVICES):
        mask = service == k
        w = np.array([t[1] for t in svc.titles], dtype=float)
        title_template[mask] = np.searchsorted(np.cumsum(w / w.sum()), title_u[mask], side="right")
    title_template = np.minimum(title_template, np.array([len(SERVICES[s].titles) - 1 for s in service]))
    n_variants = np.array([len(SERVICES[s].titles[t][2]) for s, t in zip(service, title_template)])
    title_variant = np.minimum((variant_u * n_variants).astype(int), n_variants - 1)

    # Triggers spread over the window but not the last two days: the open incidents below
    # are placed there on purpose, and a natural long tail should not add more.
    span = end - start
    t0 = np.sort(rng.integers(start, max(start + 1, end - 2 * 86400), size=n))
    position = (t0 - start) / max(span, 1)

    sev_i = severity - 1
    # Durations are heavy-tailed; acknowledgement gets slowly better over the year (the trend
    # the trend report should find), and SEV1 pages are acknowledged fastest.
    ack_median = np.array([2.0, 3.5, 4.5, 5.5])[sev_i] * 60 * (1.25 - 0.5 * position)
    ack = ack_median * np.exp(0.8 * rng.standard_normal(n))
    mitigate_median = np.array([38.0, 40.0, 45.0, 60.0])[sev_i] * 60
    mitigate = np.maximum(mitigate_median * np.exp(0.9 * rng.standard_normal(n)), ack + 120)
    resolve = mitigate + 60 * 60 * np.exp(1.1 * rng.standard_normal(n))
    impact_lead = 6 * 60 * np.exp(0.8 * rng.standard_normal(n))
    has_impact_mark = rng.random(n) < np.array([0.95, 0.9, 0.75, 0.35])[sev_i]
    deploy_before = rng.random(n) < 0.22
    rollback = deploy_before & (rng.random(n) < 0.6) & (severity <= 3)
    auto_resolved = (severity == 4) & (rng.random(n) < 0.15)
    resolve = np.where(auto_resolved, 60 * 6 * np.exp(0.9 * rng.standard_normal(n)) + 60, resolve)
    manual_escalation = (severity <= 2) & (rng.random(n) < 0.3)
    reassign = rng.random(n) < np.array([0.5, 0.25, 0.08, 0.04])[sev_i]
    raised_from_sev3 = (severity == 2) & (rng.random(n) < 0.1)
    public_updates = (severity <= 2) | ((severity == 3) & (rng.random(n) < 0.3))
    # Without a priority PagerDuty's urgency decides the severity (high → SEV2, low → SEV4),
    # so only incidents whose urgency tells the truth may lack one.
    priority_null = np.isin(severity, (2, 4)) & (rng.random(n) < 0.25)
    urgency_high = np.where(severity <= 2, True, np.where(severity == 3, rng.random(n) < 0.6,
                                                          rng.random(n) < 0.1))
    urgency_high = np.where(priority_null, severity == 2, urgency_high)

    reopen = np.zeros(n, dtype=np.int64)
    reopen_gap = 60 * 40 * np.exp(0.7 * rng.standard_normal(n)) + 300
    second_resolve = 60 * 50 * np.exp(0.8 * rng.standard_normal(n)) + 600
    still_open = np.zeros(n, dtype=bool)
    eligible = ~auto_resolved & (severity <= 3)

    # Open at export time: 3-5 recent incidents, plus 1-2 reopened ones never resolved again.
    n_open = int(rng.integers(3, 6)) if n >= 8 else 0   # tiny samples: all resolved
    n_reopen_open = min(int(rng.integers(1, 3)), max(n - n_open - 1, 0)) if n >= 8 else 0
    order = np.arange(n)
    open_idx = order[n - n_open:]
    # Reopened and still open: the latest incidents before those that a person would reopen
    # (a real incident, not a SEV4 alert that cleared itself).
    reopen_open_idx = np.array([k for k in range(n - n_open - 1, -1, -1) if eligible[k]][:n_reopen_open],
                               dtype=np.int64)
    still_open[open_idx] = True
    auto_resolved[open_idx] = False
    reopen[reopen_open_idx] = 2
    still_open[reopen_open_idx] = True
    # Place the open ones so that the export time falls mid-response.
    frac = rng.uniform(0.25, 0.85, size=n)
    t0[open_idx] = end - (frac[open_idx] * resolve[open_idx]).astype(np.int64) - 60
    reopen_at = resolve + reopen_gap
    t0[reopen_open_idx] = end - (reopen_at[reopen_open_idx]
                                 + frac[reopen_open_idx] * second_resolve[reopen_open_idx]).astype(np.int64)
    t0 = np.maximum(t0, start)

    # A few reopened incidents that were resolved again (~3%).
    closed = np.flatnonzero(~still_open & eligible)
    n_reopened = min(len(closed), max(2, int(round(0.03 * n)))) if n >= 8 else 0
    if n_reopened:
        reopen[rng.choice(closed, size=n_reopened, replace=False)] = 1

    # The showcase: a resolved SEV1 near 60% of the year with everything a retro should show.
    sev1 = np.flatnonzero((severity == 1) & ~still_open)
    if len(sev1) == 0:
        candidates = np.flatnonzero(~still_open) if (~still_open).any() else order
        sev1 = candidates[:1]
        severity[sev1] = 1
    showcase = int(sev1[np.argmin(np.abs(position[sev1] - 0.6))])
    reopen[showcase] = 0
    auto_resolved[showcase] = False
    deploy_before[showcase] = rollback[showcase] = True
    manual_escalation[showcase] = reassign[showcase] = True
    has_impact_mark[showcase] = public_updates[showcase] = True
    priority_null[showcase] = raised_from_sev3[showcase] = False
    ack[showcase] = max(ack[showcase], 7 * 60.0)          # escalates past the 5-minute timeout
    mitigate[showcase] = max(mitigate[showcase], 55 * 60.0)
    resolve[showcase] = max(resolve[showcase], mitigate[showcase] + 50 * 60.0)
    urgency_high[showcase] = True

    return _Plan(n=n, t0=t0.astype(np.int64), severity=severity, service=service,
                 title_template=title_template, title_variant=title_variant,
                 ack=ack, mitigate=mitigate, resolve=resolve, impact_lead=impact_lead,
                 has_impact_mark=has_impact_mark, deploy_before=deploy_before,
                 rollback=rollback, auto_resolved=auto_resolved,
                 manual_escalation=manual_escalation, reassign=reassign, reopen=reopen,
                 reopen_gap=reopen_gap, second_resolve=second_resolve, still_open=still_open,
                 priority_null=priority_null, urgency_high=urgency_high,
                 raised_from_sev3=raised_from_sev3, public_updates=public_updates,
                 showcase=showcase)


# --- the narrative of one incident ------------------------------------------------------------
# PagerDuty event: (t, seq, "pd", type, agent, channel, summary, extra)
#   agent: ("user", name) | ("service", None) | None (notify entries carry `user` instead)
# CSV event: (t, seq, "csv", kind, actor, actor_type, summary, source, visibility, status, target)

_INVESTIGATE = (
    "Looking at the {service} dashboards now",
    "Error rate started climbing a few minutes before the page",
    "Checking logs on the {region} cluster",
    "Anyone else seeing timeouts from {service}?",
    "Pulled up the traces, slow spans are all in the DB calls",
    "This looks like the same pattern as last time",
    "Paging in someone from {other_team}",
    "Customer support is reporting failures too",
    "Connection pool is saturated on most pods",
    "Nothing obvious in the deploy log for the last hour",
)
_MITIGATE = (
    "Rolling back to the previous release",
    "Scaling {service} out to double the replicas",
    "Failing over to the secondary database",
    "Turning off the feature flag for the new code path",
    "Draining the unhealthy nodes",
    "Raising the connection pool limit as a stop-gap",
)
_RECOVER = (
    "Error rate back to baseline",
    "p99 recovering, watching for another 15 minutes",
    "Looks stable now",
    "Queue is draining, should be empty in ~10 min",
)
_CHATTER = (
    "Still watching the graphs",
    "Nothing new on my side",
    "Added a panel for this to the {service} dashboard",
    "Writing down the timeline while it is fresh",
    "Checked the {region} replicas, they look healthy",
    "Ack, on it",
    "Can someone confirm the alert thresholds?",
    "Support ticket count is flat",
    "Latency on the canary looks fine",
    "Let's keep the channel open for another hour",
)
_NOTES = (
    "Customer impact confirmed by support",
    "Suspect the {region} database primary",
    "Mitigation in progress, see incident channel",
    "Runbook step 3 done, no improvement",
    "Vendor status page shows no issues",
    "Metrics back within SLO",
)
_STATUS_TEXT = {
    "investigating": "We are investigating reports of {symptom}. We will post an update shortly.",
    "identified": "We have identified the cause of {symptom} and are working on a fix.",
    "monitoring": "A fix has been applied and we are monitoring the results.",
    "resolved": "This incident has been resolved. {symptom_cap} is back to normal.",
}
_SYMPTOM = {
    "checkout-api": "errors and slow responses at checkout",
    "payments": "failed card payments",
    "search": "slow or missing search results",
    "auth": "problems signing in",
    "api-gateway": "errors from our API",
    "notifications": "delayed emails and notifications",
    "inventory": "incorrect stock information",
    "web-frontend": "errors loading our website",
}


def _minutes(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


class _Narrative:
    """The events of one incident, in true order, from its row of the plan."""

    def __init__(self, plan: _Plan, i: int, dice: _Dice, start: int, pad_to: int | None) -> None:
        self.p, self.i, self.d = plan, i, dice
        self.events: list[tuple] = []
        self.seq = 0
        self.pad_to = pad_to
        svc = SERVICES[int(plan.service[i])]
        self.svc = svc
        template, _w, variants = svc.titles[int(plan.title_template[i])]
        self.title = template.format(variants[int(plan.title_variant[i])])
        self.severity = int(plan.severity[i])
        members = TEAMS[svc.team]
        week = (int(plan.t0[i]) - start) // (7 * 86400)
        team_offset = list(TEAMS).index(svc.team)
        self.primary = members[(week + team_offset) % len(members)]
        self.secondary = members[(week + team_offset + 1) % len(members)]
        self.commander = (COMMANDERS[(week + i) % len(COMMANDERS)] if self.severity <= 2
                          else self.primary if self.severity == 3 else None)
        others = [t for t in TEAMS if t != svc.team]
        self.other_team = others[(week + i) % len(others)]
        self.region = dice.pick(("eu-west-1", "us-east-1"))
        self.responders: list[str] = []
        self.joined: list[tuple[float, str]] = []   # (when, who) in the incident channel
        self.resolved_times: list[float] = []

    # event builders
    def pd(self, t: float, kind: str, agent: tuple | None, channel: dict, summary: str,
           extra: dict | None = None) -> None:
        self.seq += 1
        self.events.append((float(t), self.seq, "pd", kind, agent, channel, summary, extra))

    def csv(self, t: float, kind: str, actor: str, summary: str, source: str, *,
            visibility: str = "internal", status: str = "", actor_type: str = "person",
            target: str = "") -> None:
        self.seq += 1
        self.events.append((float(t), self.seq, "csv", kind, actor, actor_type, summary, source,
                            visibility, status, target))

    def fill(self, text: str) -> str:
        return text.format(service=self.svc.name, region=self.region, other_team=self.other_team)

    def join(self, t: float, person: str) -> None:
        if person not in self.responders:
            self.responders.append(person)
            self.joined.append((t, person))
            self.csv(t, "responder_joined", person,
                     f"{person} joined #inc-{{number}}-{self.svc.name}", "slack")

    def speakers(self) -> tuple[np.ndarray, list[str]]:
        """Join times (sorted) and people, so a line is only said by someone already there."""
        ordered = sorted(self.joined)
        return np.array([t for t, _ in ordered]), [who for _, who in ordered]

    def speaker_at(self, t: float, fallback: str) -> str:
        present = [who for when, who in self.joined if when <= t]
        return self.d.pick(present) if present else fallback

    def build(self) -> None:
        p, i, d = self.p, self.i, self.d
        sev, svc = self.severity, self.svc
        ack, mitigate, resolve = float(p.ack[i]), float(p.mitigate[i]), float(p.resolve[i])
        auto = bool(p.auto_resolved[i])
        showcase = i == p.showcase
        members = TEAMS[svc.team]

        if p.deploy_before[i]:
            deployer = d.pick(members)
            version = f"{svc.name}@{d.pick(('1.42', '1.43', '2.7', '2.8', '3.1'))}.{int(d.between(0, 30))}"
            self.csv(-d.between(5, 55) * 60, "deploy", deployer,
                     f"Deployed {version} to production", "deploys")
        if p.has_impact_mark[i]:
            self.csv(-float(p.impact_lead[i]), "impact_started", self.commander or self.primary,
                     f"Customer impact started: {_SYMPTOM[svc.name]}", "manual")

        # Paging: trigger, the escalation policy's assignment and notifications share a second.
        self.pd(0, "trigger_log_entry", ("service", None), {"type": "api"},
                "Triggered through the API.", {"event_details": {"description": self.title}})
        self.pd(0, "assign_log_entry", ("service", None), {"type": "auto"},
                f"Assigned to {self.primary}.", {"assignees": [self.primary]})
        self.pd(0, "notify_log_entry", None, {"type": "push_notification"},
                f"Notified {self.primary} by push notification.", {"user": self.primary})
        self.pd(d.between(0, 2), "notify_log_entry", None, {"type": "sms"},
                f"Notified {self.primary} by SMS.", {"user": self.primary})
        if sev <= 3:
            self.csv(d.between(5, 40), "message", "PagerDuty",
                     f"Incident triggered: {self.title}", "slack", actor_type="bot")

        timeout = 300 if sev == 1 else 600
        acker = assigned = self.primary
        if not auto and ack > timeout:
            self.pd(timeout, "escalate_log_entry", ("service", None), {"type": "timeout"},
                    f"Escalated to {self.secondary} by timeout.", {"assignees": [self.secondary]})
            self.pd(timeout, "notify_log_entry", None, {"type": "phone"},
                    f"Notified {self.secondary} by phone.", {"user": self.secondary})
            assigned = self.secondary
            acker = self.secondary if showcase or d.chance(0.75) else self.primary
        elif auto and resolve > timeout:
            self.pd(timeout, "escalate_log_entry", ("service", None), {"type": "timeout"},
                    f"Escalated to {self.secondary} by timeout.", {"assignees": [self.secondary]})
            self.pd(timeout, "notify_log_entry", None, {"type": "sms"},
                    f"Notified {self.secondary} by SMS.", {"user": self.secondary})

        if auto:
            self.pd(resolve, "resolve_log_entry", ("service", None), {"type": "api"},
                    "Resolved through the API.")
            self.resolved_times.append(resolve)
            self.pad(0, resolve)
            return

        self.pd(ack, "acknowledge_log_entry", ("user", acker), {"type": d.pick(("website", "sms", "api"))},
                f"Acknowledged by {acker}.", {"acknowledgement_timeout": 1800})
        if acker != assigned:
            # Acknowledging an incident someone else holds takes it over: PagerDuty logs both.
            self.pd(ack, "assign_log_entry", ("user", acker), {"type": "website"},
                    f"Assigned to {acker} by {acker}.", {"assignees": [acker]})
        self.join(ack + d.between(20, 120), acker)

        # Who else turns up: the commander, the other on-call, people from other teams.
        crowd = {1: int(d.between(4, 7)), 2: int(d.between(2, 4)), 3: int(d.between(0, 2)), 4: 0}[sev]
        pool = [m for m in members if m != acker] + list(TEAMS[self.other_team])
        t_join = ack + 60
        if self.commander and self.commander != acker:
            self.join(t_join + d.between(30, 240), self.commander)
        for _ in range(crowd if not showcase else max(crowd, 5)):
            person = d.pick(pool)
            t_join += d.between(60, 600)
            if t_join < mitigate:
                self.join(t_join, person)

        # The rarer log entries: an urgency bump, a snoozed low-priority page, and an
        # acknowledgement that timed out on a long incident and had to be renewed.
        if sev == 3 and p.urgency_high[i] and not p.priority_null[i] and d.chance(0.1):
            who = self.commander or acker
            self.pd(ack + d.between(60, 600), "urgency_change_log_entry", ("user", who),
                    {"type": "website"}, f"Urgency changed from low to high by {who}.")
        if sev == 4 and resolve - ack > 3600 and d.chance(0.3):
            self.pd(ack + d.between(120, 900), "snooze_log_entry", ("user", acker), {"type": "website"},
                    f"Snoozed for 1 hour by {acker}.")
        elif sev >= 3 and not p.reassign[i] and resolve - ack > 1800 + 900 and d.chance(0.1):
            lapsed = ack + 1800
            self.pd(lapsed, "unacknowledge_log_entry", ("service", None), {"type": "timeout"},
                    "Unacknowledged due to timeout.")
            self.pd(lapsed, "notify_log_entry", None, {"type": "sms"}, f"Notified {acker} by SMS.",
                    {"user": acker})
            self.pd(lapsed + d.between(30, 600), "acknowledge_log_entry", ("user", acker),
                    {"type": "sms"}, f"Acknowledged by {acker}.", {"acknowledgement_timeout": 1800})

        if p.raised_from_sev3[i]:
            self.csv(ack + d.between(120, 900), "severity_changed", self.commander or acker,
                     "Severity raised from SEV3 to SEV2", "manual")
        if p.manual_escalation[i]:
            expert = TEAMS[self.other_team][(self.i + 1) % 4]
            t = min(ack + d.between(300, 1200), mitigate - 60)
            self.pd(t, "escalate_log_entry", ("user", self.commander or acker), {"type": "website"},
                    f"Escalated to {expert} by {self.commander or acker}.", {"assignees": [expert]})
            self.pd(t, "notify_log_entry", None, {"type": "phone"}, f"Notified {expert} by phone.",
                    {"user": expert})
            self.join(t + d.between(60, 300), expert)
        if p.reassign[i]:
            handoff_to = self.secondary if acker != self.secondary else self.primary
            t = ack + (resolve - ack) * d.between(0.3, 0.7)
            self.pd(t, "assign_log_entry", ("user", acker), {"type": "website"},
                    f"Assigned to {handoff_to} by {acker}.", {"assignees": [handoff_to]})
            self.pd(t, "notify_log_entry", None, {"type": "push_notification"},
                    f"Notified {handoff_to} by push notification.", {"user": handoff_to})
            self.join(t + d.between(30, 180), handoff_to)

        n_msgs = {1: int(d.between(14, 24)), 2: int(d.between(8, 14)), 3: int(d.between(3, 8)),
                  4: int(d.between(0, 3))}[sev]
        for _ in range(n_msgs):
            t = d.between(ack + 60, resolve)
            phase = _INVESTIGATE if t < mitigate * 0.8 else _MITIGATE if t < mitigate else _RECOVER
            self.csv(t, "message", self.speaker_at(t, acker), self.fill(d.pick(phase)), "slack")
        if sev <= 3:
            for _ in range({1: 3, 2: 2, 3: 1}[sev]):
                t = d.between(ack + 120, resolve)
                self.pd(t, "annotate_log_entry", ("user", self.speaker_at(t, acker)), {"type": "note"},
                        "Note added", {"note": self.fill(d.pick(_NOTES))})

        if p.rollback[i]:
            self.csv(mitigate - d.between(60, 300), "deploy", acker,
                     f"Rolled back {svc.name} to the previous release", "deploys")
        if sev <= 3 and (showcase or d.chance(0.8)):
            self.csv(mitigate, "mitigated", self.commander or acker,
                     f"Mitigated: {_SYMPTOM[svc.name]} stopped", "manual")

        # Communication: internal stakeholder updates every 15-45 min until mitigation, then
        # at resolution; public status page updates for SEV1/SEV2 and some SEV3.
        if sev <= 3:
            author = self.commander or acker
            t = ack + d.between(5, 15) * 60
            sent = 0
            while t < mitigate and sent < 12:
                self.csv(t, "stakeholder_update", author,
                         f"[SEV{sev}] {self.title}: investigating, impact ongoing. "
                         f"Next update in 30 min.", "email")
                t += d.between(15, 45) * 60
                sent += 1
            self.csv(resolve + d.between(60, 600), "stakeholder_update", author,
                     f"[SEV{sev}] {self.title}: resolved after {_minutes(resolve)}.", "email")
        if p.public_updates[i]:
            self.status_updates(ack, mitigate, resolve)

        self.pd(resolve, "resolve_log_entry", ("user", self.commander or acker),
                {"type": d.pick(("website", "api"))}, f"Resolved by {self.commander or acker}.")
        self.resolved_times.append(resolve)

        if p.reopen[i]:
            reopen_at = resolve + float(p.reopen_gap[i])
            who = self.commander or acker
            self.csv(reopen_at, "reopened", who,
                     f"Reopened: {_SYMPTOM[svc.name]} came back", "manual")
            self.pd(reopen_at + 5, "notify_log_entry", None, {"type": "push_notification"},
                    f"Notified {acker} by push notification.", {"user": acker})
            re_ack = reopen_at + d.between(60, 300)
            self.pd(re_ack, "acknowledge_log_entry", ("user", acker), {"type": "website"},
                    f"Acknowledged by {acker}.", {"acknowledgement_timeout": 1800})
            second = reopen_at + float(p.second_resolve[i])
            for _ in range(3):
                t = d.between(re_ack, second)
                self.csv(t, "message", self.speaker_at(t, acker), self.fill(d.pick(_INVESTIGATE)),
                         "slack")
            self.pd(second, "resolve_log_entry", ("user", who), {"type": "website"},
                    f"Resolved by {who}.")
            self.resolved_times.append(second)
            resolve = second
        self.pad(ack, resolve)

    def status_updates(self, ack: float, mitigate: float, resolve: float) -> None:
        d, sev = self.d, self.severity
        author = self.commander or self.primary
        symptom = _SYMPTOM[self.svc.name]
        t = ack + d.between(5, 12) * 60
        identified = ack + (mitigate - ack) * d.between(0.3, 0.7)
        cadence = (20, 30) if sev == 1 else (30, 60)
        first = True
        while t < mitigate:
            # The first public word is "investigating", however quickly the cause is found.
            status = "investigating" if first or t < identified else "identified"
            first = False
            self.csv(t, "status_update", author, _STATUS_TEXT[status].format(symptom=symptom),
                     "statuspage", visibility="external", status=status)
            t += d.between(*cadence) * 60
        self.csv(mitigate + d.between(60, 300), "status_update", author, _STATUS_TEXT["monitoring"],
                 "statuspage", visibility="external", status="monitoring")
        self.csv(resolve + d.between(60, 900), "status_update", author,
                 _STATUS_TEXT["resolved"].format(symptom_cap=symptom[:1].upper() + symptom[1:]),
                 "statuspage", visibility="external", status="resolved")

    def pad(self, begin: float, finish: float) -> None:
        """Fill up to `pad_to` events (benchmark volume): half chat, half PagerDuty notes."""
        if self.pad_to is None:
            return
        missing = self.pad_to - len(self.events)
        if missing <= 0:
            return
        join_times, people = self.speakers()
        chatter = [self.fill(t) for t in _CHATTER]
        notes = [self.fill(t) for t in _NOTES]
        draws = self.d.many(3 * missing).reshape(3, missing)
        low, high = begin + 30, max(finish, begin + 60)
        times = low + (high - low) * draws[0]
        # Pick among the people already in the channel at each time (the on-call if nobody).
        present = np.searchsorted(join_times, times, side="right") if len(people) else np.zeros(missing, int)
        who = np.floor(draws[1] * present).astype(int).tolist()
        present = present.tolist()
        speakers = [people[who[k]] if present[k] else self.primary for k in range(missing)]
        what = draws[2].tolist()
        times = times.tolist()
        seq = self.seq
        for k in range(missing):
            seq += 1
            if k % 2:
                self.events.append((times[k], seq, "pd", "annotate_log_entry",
                                    ("user", speakers[k]), None, "Note added",
                                    {"note": notes[int(what[k] * len(notes))]}))
            else:
                self.events.append((times[k], seq, "csv", "message", speakers[k], "person",
                                    chatter[int(what[k] * len(chatter))], "slack", "internal",
                                    "", ""))
        self.seq = seq


# --- writing the exports ----------------------------------------------------------------------
def _ref(kind: str, ident: str, summary: str, path: str) -> dict:
    return {"id": ident, "type": f"{kind}_reference", "summary": summary,
            "self": f"{PD_API}/{path}/{ident}", "html_url": f"{PD_WEB}/{path}/{ident}"}


_PRIORITY_COLORS = ("a8171c", "eb6016", "f9b406", "3c78d8")


def _write_log_entries(path: Path, incidents: list[dict], log_pages: list[tuple[int, int]],
                       pd_rows: list[tuple], pd_times: list[str], entry_ids: list[str],
                       user_refs: dict, service_refs: dict, team_refs: dict) -> None:
    """One `GET /incidents/{id}/log_entries` response page per line, entries newest first."""
    # A million entries share a few dozen references: encode each reference once and splice
    # the JSON text, instead of building and encoding a dict per entry (same bytes, ~5x faster).
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    quote = encode_basestring   # that encoder's own (C) quoting of a str, minus its per-call cost
    user_json = {name: encode(ref) for name, ref in user_refs.items()}
    service_json = {name: encode(ref) for name, ref in service_refs.items()}
    team_json = {name: encode(refs) for name, refs in team_refs.items()}
    channel_json: dict[str, str] = {}
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        row = 0
        for position, n_entries in log_pages:
            inc = incidents[position]
            story, iid = inc["story"], inc["id"]
            incident_ref = {"id": iid, "type": "incident_reference",
                            "summary": f"[#{inc['number']}] {story.title}",
                            "self": f"{PD_API}/incidents/{iid}", "html_url": f"{PD_WEB}/incidents/{iid}"}
            svc = service_json[story.svc.name]
            shared = (f',"service":{svc},"incident":{encode(incident_ref)}'
                      f',"teams":{team_json[story.svc.team]},"contexts":[]')
            entry_url = f"{PD_WEB}/incidents/{iid}/log_entries/"
            entries: list[str] = []
            for k in range(row, row + n_entries):
                _t, _seq, _dest, kind, agent, channel, summary, extra = pd_rows[k][2]
                entry_id = entry_ids[k]
                parts = [f'{{"id":"{entry_id}","type":"{kind}","summary":{quote(summary)}'
                         f',"self":"{PD_API}/log_entries/{entry_id}","html_url":"{entry_url}{entry_id}"'
                         f',"created_at":"{pd_times[k]}"']
                if agent is not None:
                    parts.append(',"agent":' + (svc if agent[0] == "service" else user_json[agent[1]]))
                if extra and "note" in extra:
                    # The note's text travels in the channel, as PagerDuty reports it.
                    parts.append(',"channel":{"type":"note","summary":' + quote(extra["note"]) + "}")
                else:
                    key = channel["type"]
                    if key not in channel_json:
                        channel_json[key] = encode(channel)
                    parts.append(',"channel":' + channel_json[key])
                parts.append(shared)
                if extra:
                    if "assignees" in extra:
                        parts.append(',"assignees":[' + ",".join(user_json[a] for a in extra["assignees"]) + "]")
                    if "user" in extra:
                        parts.append(',"user":' + user_json[extra["user"]])
                    if "event_details" in extra:
                        parts.append(',"event_details":' + encode(extra["event_details"]))
                    if "acknowledgement_timeout" in extra:
                        parts.append(f',"acknowledgement_timeout":{int(extra["acknowledgement_timeout"])}')
                parts.append("}")
                entries.append("".join(parts))
            row += n_entries
            for offset in range(0, max(len(entries), 1), PAGE_LIMIT):
                more = "true" if offset + PAGE_LIMIT < len(entries) else "false"
                fh.write('{"log_entries":[' + ",".join(entries[offset:offset + PAGE_LIMIT])
                         + f'],"limit":{PAGE_LIMIT},"offset":{offset},"more":{more},"total":null}}\n')


def generate_sample(out_dir: Path | str, *, n_incidents: int = 200, seed: int = 42,
                    start: datetime | str = DEFAULT_START, days: int = 365,
                    events_per_incident: int | None = None) -> SampleFiles:
    """Write a realistic incident history as PagerDuty API and CSV exports under `out_dir`.

    Writes `pagerduty/incidents.json` (an array of `GET /incidents` pages),
    `pagerduty/log_entries.jsonl` (one `GET /incidents/{id}/log_entries` page per line,
    newest first), `csv/incidents.csv` and `csv/comms.csv`. `events_per_incident` pads every
    incident with chat messages and notes up to that many events (for benchmarks).
    Same arguments, same bytes.

    >>> files = generate_sample(tmp_path, n_incidents=50, seed=1)   # doctest: +SKIP
    >>> files.counts["incidents"]                                  # doctest: +SKIP
    50
    """
    if n_incidents < 1:
        raise ValueError("n_incidents must be at least 1")
    if days < 3:
        raise ValueError("days must be at least 3")
    out = Path(out_dir)
    start_ts = parse_timestamp(start)
    start_s = int(start_ts.timestamp())
    end_s = start_s + days * 86400
    rng = np.random.default_rng(seed)

    taken: set[str] = set()
    team_ids = dict(zip(TEAMS, _pd_ids(rng, len(TEAMS), 6, "P", taken)))
    policy_ids = dict(zip(TEAMS, _pd_ids(rng, len(TEAMS), 6, "P", taken)))
    service_ids = dict(zip([s.name for s in SERVICES], _pd_ids(rng, len(SERVICES), 6, "P", taken)))
    people = [p for members in TEAMS.values() for p in members] + list(COMMANDERS)
    user_ids = dict(zip(people, _pd_ids(rng, len(people), 6, "P", taken)))
    priority_ids = _pd_ids(rng, 4, 6, "P", taken)

    plan = _plan(rng, n_incidents, start_s, end_s)
    dice = _Dice(rng)
    stories: list[_Narrative] = []
    for i in range(n_incidents):
        story = _Narrative(plan, i, dice, start_s, events_per_incident)
        story.build()
        stories.append(story)

    # Number incidents in trigger order, as PagerDuty does.
    order = np.argsort(plan.t0, kind="stable")
    incident_ids = _pd_ids(rng, n_incidents, 6, "P", taken)
    key_bytes = rng.bytes(16 * n_incidents).hex()
    keys = [key_bytes[32 * k:32 * (k + 1)] for k in range(n_incidents)]
    first_number = 1042

    user_refs = {p: _ref("user", user_ids[p], p, "users") for p in people}
    service_refs = {s.name: _ref("service", service_ids[s.name], s.name, "services") for s in SERVICES}
    team_refs = {t: [_ref("team", team_ids[t], t, "teams")] for t in TEAMS}
    policy_refs = {t: _ref("escalation_policy", policy_ids[t], f"{t} on-call", "escalation_policies")
                   for t in TEAMS}
    priorities = [{"id": priority_ids[k], "type": "priority", "summary": f"P{k + 1}",
                   "self": f"{PD_API}/priorities/{priority_ids[k]}", "html_url": None,
                   "name": f"P{k + 1}", "color": _PRIORITY_COLORS[k], "order": (4 - k) * 256}
                  for k in range(4)]

    # Gather every event, cut at the export time (the open incidents' futures do not exist yet).
    pd_rows: list[tuple] = []      # (position, event) newest first within each incident
    csv_rows: list[tuple] = []
    incidents: list[dict] = []
    counts = {"incidents": n_incidents, "open": 0, "reopened": 0, "reopened_open": 0}
    severity_counts = {f"SEV{k}": 0 for k in range(1, 5)}
    log_pages: list[tuple[int, int]] = []   # (position, number of log entries)
    for position, i in enumerate(order.tolist()):
        story = stories[i]
        t0 = int(plan.t0[i])
        number = first_number + position
        events = sorted(story.events, key=lambda e: (int(t0 + e[0]), e[1]))
        kept = [e for e in events if t0 + e[0] <= end_s]
        resolved_in_time = [t for t in story.resolved_times if t0 + t <= end_s]
        reopened_in_time = any(e[2] == "csv" and e[3] == "reopened" for e in kept)
        if plan.still_open[i] or len(kept) < len(events):
            # Open: acknowledged if someone acknowledged since it was (re)opened.
            since = max((e[0] for e in kept if e[2] == "csv" and e[3] == "reopened"), default=-1e18)
            acked = any(e[2] == "pd" and e[3] == "acknowledge_log_entry" and e[0] > since for e in kept)
            status = "acknowledged" if acked else "triggered"
            resolved_at = None
        else:
            status = "resolved"
            resolved_at = t0 + int(resolved_in_time[-1])
        counts["open"] += status != "resolved"
        counts["reopened"] += reopened_in_time
        counts["reopened_open"] += reopened_in_time and status != "resolved"
        sev = story.severity
        severity_counts[f"SEV{sev}"] += 1
        iid = incident_ids[position]
        for e in reversed(kept):        # the API answers newest first
            if e[2] == "pd":
                pd_rows.append((position, t0 + int(e[0]), e))
        # The CSV loader names a row by a hash of what it says, so two identical chat lines in
        # one second would be one event: nudge the later one a second on.
        said: set[tuple] = set()
        for e in kept:
            if e[2] == "csv":
                at = t0 + int(e[0])
                while (at, e[3], e[4], e[6]) in said:
                    at += 1
                said.add((at, e[3], e[4], e[6]))
                csv_rows.append((iid, at, e, number))
        log_pages.append((position, sum(1 for e in kept if e[2] == "pd")))
        incidents.append({
            "position": position, "id": iid, "number": number, "story": story, "t0": t0,
            "status": status, "resolved_at": resolved_at, "key": keys[position],
            "last_ack": max((t0 + int(e[0]), e[4][1]) for e in kept
                            if e[2] == "pd" and e[3] == "acknowledge_log_entry")
            if status == "acknowledged" else None,
            "last_change": max((t0 + int(e[0]) for e in kept if e[2] == "pd"), default=t0),
            "priority_null": bool(plan.priority_null[i]),
            "urgency": "high" if plan.urgency_high[i] else "low",
            "is_showcase": i == plan.showcase,
        })

    # Timestamps for a million events are formatted in one vectorised call.
    pd_times = _iso_z(np.fromiter((r[1] for r in pd_rows), dtype=np.int64, count=len(pd_rows)))
    entry_ids = _log_entry_ids(rng, len(pd_rows))
    created = _iso_z(np.array([inc["t0"] for inc in incidents], dtype=np.int64))

    pd_dir, csv_dir = out / "pagerduty", out / "csv"
    pd_dir.mkdir(parents=True, exist_ok=True)
    csv_dir.mkdir(parents=True, exist_ok=True)

    # --- GET /incidents pages
    records = []
    first_trigger: dict[int, str] = {}
    row = 0
    for position, n_entries in log_pages:
        # Entries are newest first, so the first trigger is the last trigger entry we meet.
        for k in range(row, row + n_entries):
            if pd_rows[k][2][3] == "trigger_log_entry":
                first_trigger[position] = entry_ids[k]
        row += n_entries
    for inc in incidents:
        story, iid, position = inc["story"], inc["id"], inc["position"]
        svc = story.svc.name
        title = story.title
        acks = ([{"at": _iso_z(np.array([inc["last_ack"][0]]))[0],
                  "acknowledger": user_refs[inc["last_ack"][1]]}]
                if inc["status"] == "acknowledged" else [])
        assignee = story.responders[-1] if story.responders else story.primary
        records.append({
            "id": iid,
            "type": "incident",
            "summary": f"[#{inc['number']}] {title}",
            "self": f"{PD_API}/incidents/{iid}",
            "html_url": f"{PD_WEB}/incidents/{iid}",
            "incident_number": inc["number"],
            "title": title,
            "description": title,
            "created_at": created[position],
            "updated_at": _iso_z(np.array([inc["last_change"]]))[0],
            "status": inc["status"],
            "incident_key": inc["key"],
            "service": service_refs[svc],
            "assignments": ([] if inc["status"] == "resolved" else
                            [{"at": created[position], "assignee": user_refs[assignee]}]),
            "assigned_via": "escalation_policy",
            "last_status_change_at": _iso_z(np.array([inc["last_change"]]))[0],
            "resolved_at": (_iso_z(np.array([inc["resolved_at"]]))[0]
                            if inc["resolved_at"] is not None else None),
            "first_trigger_log_entry": {
                "id": first_trigger.get(position),
                "type": "trigger_log_entry_reference",
                "summary": "Triggered through the API.",
                "self": f"{PD_API}/log_entries/{first_trigger.get(position)}",
                "html_url": f"{PD_WEB}/incidents/{iid}/log_entries/{first_trigger.get(position)}",
            },
            "alert_counts": {"all": 1, "triggered": int(inc["status"] != "resolved"),
                             "resolved": int(inc["status"] == "resolved")},
            "is_mergeable": True,
            "escalation_policy": policy_refs[story.svc.team],
            "teams": team_refs[story.svc.team],
            "pending_actions": [],
            # The API lists acknowledgements only while an incident is acknowledged.
            "acknowledgements": acks,
            "basic_alert_grouping": None,
            "alert_grouping": None,
            "last_status_change_by": service_refs[svc],
            "priority": None if inc["priority_null"] else priorities[story.severity - 1],
            "resolve_reason": None,
            "urgency": inc["urgency"],
        })
    pages = [{"incidents": records[k:k + PAGE_LIMIT], "limit": PAGE_LIMIT, "offset": k,
              "more": k + PAGE_LIMIT < len(records), "total": len(records)}
             for k in range(0, len(records), PAGE_LIMIT)]
    incidents_path = pd_dir / "incidents.json"
    # Compact, as the API sends it (an indented dump goes through json's slow Python encoder).
    incidents_path.write_text(json.dumps(pages, ensure_ascii=False, separators=(",", ":")) + "\n",
                              encoding="utf-8")

    log_path = pd_dir / "log_entries.jsonl"
    _write_log_entries(log_path, incidents, log_pages, pd_rows, pd_times, entry_ids,
                       user_refs, service_refs, team_refs)

    # --- CSV: the incidents file and the communications / chat / deploy log
    csv_incidents = csv_dir / "incidents.csv"
    with csv_incidents.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["incident_id", "title", "severity", "status", "service", "team",
                         "commander", "url", "created_at"])
        for inc in incidents:
            story = inc["story"]
            writer.writerow([inc["id"], story.title, f"SEV{story.severity}", inc["status"],
                             story.svc.name, story.svc.team, story.commander or "",
                             f"{PD_WEB}/incidents/{inc['id']}", created[inc["position"]]])

    csv_times = _iso_z(np.fromiter((r[1] for r in csv_rows), dtype=np.int64, count=len(csv_rows)))

    def comms_rows() -> Iterator[list[str]]:
        for (iid, at, e, number), utc_text in zip(csv_rows, csv_times):
            _t, _seq, _dest, kind, actor, actor_type, summary, source, visibility, status, target = e
            if source == "manual" and actor in LOCAL_OFFSET_PEOPLE:
                utc_text = _plus_two(at)
            if "{number}" in summary:
                summary = summary.replace("{number}", str(number))
            yield [iid, utc_text, kind, actor, summary, source, visibility, status, actor_type, target]

    comms_path = csv_dir / "comms.csv"
    with comms_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["incident_id", "at", "kind", "actor", "summary", "source", "visibility",
                         "status", "actor_type", "target"])
        writer.writerows(comms_rows())

    counts.update(severity_counts)
    counts["log_entries"] = len(pd_rows)
    counts["log_entry_pages"] = sum(max(1, -(-n // PAGE_LIMIT)) for _p, n in log_pages)
    counts["comms_events"] = len(csv_rows)
    counts["events"] = len(pd_rows) + len(csv_rows)
    demo = next(inc["id"] for inc in incidents if inc["is_showcase"])
    return SampleFiles(
        root=out,
        pagerduty_incidents=incidents_path,
        pagerduty_log_entries=log_path,
        csv_incidents=csv_incidents,
        csv_events=comms_path,
        ingest=[("pagerduty", incidents_path), ("pagerduty", log_path),
                ("csv", csv_incidents), ("csv", comms_path)],
        demo_incident_id=demo,
        counts=counts,
    )


# --- what earlier retrospectives decided ------------------------------------------------------
_ACTION_TEMPLATES = (
    ("mitigate", "Add a runbook step for {service} failover"),
    ("prevent", "Alert on {service} saturation before it pages"),
    ("prevent", "Add a regression test for the {service} fault"),
    ("process", "Post the first status update within 15 minutes for {severity}s"),
    ("other", "Review {service} dashboards with the owning team"),
    ("prevent", "Rate-limit retries from {service} clients"),
)


def sample_action_items(incidents: "pd.DataFrame", *, seed: int = 42) -> list[dict]:
    """Action items as the retrospectives of a sample history would have left them.

    SEV1–SEV3 incidents get one to three items each; older and more severe incidents'
    items are more often closed; closing takes a log-normal number of days (a median of
    about three weeks), so the trend report sees a realistic follow-through curve.
    """
    import pandas as pd

    rng = np.random.default_rng(seed + 1)
    chosen = incidents[incidents["severity"].isin(["SEV1", "SEV2", "SEV3"])
                       & incidents["created_at"].notna()].sort_values("incident_id")
    end = incidents["created_at"].max()
    items: list[dict] = []
    for incident in chosen.itertuples(index=False):
        severity = int(str(incident.severity)[-1])
        for _ in range(int(rng.integers(1, 4 - (severity == 3)))):
            kind, title = _ACTION_TEMPLATES[int(rng.integers(len(_ACTION_TEMPLATES)))]
            created = incident.created_at + pd.Timedelta(days=float(rng.uniform(1, 5)))
            if created > end:
                continue
            days_to_close = float(np.exp(rng.normal(np.log(21) - 0.3 * (3 - severity), 0.9)))
            closed = created + pd.Timedelta(days=days_to_close)
            done = closed <= end and rng.random() < 0.85
            team_people = TEAMS.get(str(incident.team), COMMANDERS)
            items.append({
                "incident_id": incident.incident_id,
                "title": title.format(service=incident.service or "the service", severity=incident.severity),
                "owner": team_people[int(rng.integers(len(team_people)))],
                "type": kind, "priority": f"P{min(severity + int(rng.integers(0, 2)), 4)}",
                "status": "done" if done else ("wontfix" if closed <= end and rng.random() < 0.5 else "open"),
                "due": (created + pd.Timedelta(days=int(rng.choice([14, 30, 45, 60])))).date().isoformat(),
                "created_at": created,
                "closed_at": closed if done else None,
            })
    for item in items:
        if item["status"] == "wontfix":
            item["closed_at"] = item["created_at"] + pd.Timedelta(days=7)
    return items


def seed_review_history(store: Any, *, seed: int = 42) -> int:
    """Write `sample_action_items` for the store's incidents (the demo's earlier retros)."""
    items = sample_action_items(store.incidents(), seed=seed)
    for item in items:
        store.add_action_item(item.pop("incident_id"), item.pop("title"), **item)
    return len(items)
