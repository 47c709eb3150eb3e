"""The `review-kit` command: gathers options and calls one function per subcommand."""
from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from .errors import ReviewKitError, UnknownIncidentError

DEBUG_VARIABLE = "REVIEW_KIT_DEBUG"


def _store(args: argparse.Namespace):
    from .store import Store
    return Store.open(args.store)


def _config(args: argparse.Namespace) -> dict:
    from .config import load_config
    return load_config(getattr(args, "config", None))


def cmd_ingest(args: argparse.Namespace) -> int:
    from .model import zone
    from .store.ingest import ingest_paths
    zone(args.tz)  # an unknown zone fails before anything is read
    store = _store(args)
    result = ingest_paths(store, args.source, args.paths, incident_id=args.incident, tz=args.tz,
                          config=_config(args), quiet=args.quiet)
    if result.incident_ids:
        _keep_history(store, args)
    print(f"ingested {result.files} input(s): {result.events_added} new event(s) of "
          f"{result.events_seen} read, {len(result.incident_ids)} incident(s), "
          f"{result.aliases} new alias(es)")
    if result.differing():  # the store kept what it had: this input did not replace it
        print(f"note: {result.differing()}", file=sys.stderr)
    return 0


def _keep_history(store, args: argparse.Namespace) -> None:
    """Bring the results kept from the history (similarity terms and index, every incident's
    milestones and metrics) up to date after a command that changed it, so the next
    retrospective or trend report reads them back instead of reading the whole history."""
    from .notebook.kept_history import keep_history
    if not getattr(args, "quiet", False):  # seconds on a big history: say what it is doing
        print("bringing the results kept for reports up to date...", file=sys.stderr, flush=True)
    keep_history(store, _config(args))


def cmd_incidents(args: argparse.Namespace) -> int:
    from .model import to_iso
    frame = _store(args).incidents()
    if args.json:
        records = [{k: (to_iso(v) if k == "created_at" else v) for k, v in row.items()}
                   for row in frame.to_dict("records")]
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    if frame.empty:
        print("no incidents in the store")
        return 0
    shown = frame[["incident_id", "severity", "status", "created_at", "service", "title"]].copy()
    shown["created_at"] = shown["created_at"].dt.strftime("%Y-%m-%d %H:%M")
    print(shown.fillna("").to_string(index=False, max_colwidth=60))
    return 0


def _incident_events(args: argparse.Namespace):
    store = _store(args)
    incident = store.incident(args.incident_id)
    return store, incident, store.events(incident["incident_id"])


def cmd_timeline(args: argparse.Namespace) -> int:
    from .analysis.timeline import build_timeline
    from .model import to_iso
    _, _, events = _incident_events(args)
    timeline = build_timeline(events)
    if args.json:
        records = timeline.drop(columns=["raw"]).to_dict("records")
        for record in records:
            record["at"] = to_iso(record["at"])
        print(json.dumps(records, indent=2, ensure_ascii=False))
    elif args.csv:
        out = timeline.drop(columns=["raw"]).copy()
        out["at"] = out["at"].map(to_iso)
        out.to_csv(sys.stdout, index=False)
    else:
        shown = timeline[["at", "source", "kind", "actor", "summary"]].copy()
        shown["at"] = shown["at"].dt.strftime("%Y-%m-%d %H:%M:%S")
        print(shown.fillna("").to_string(index=False, max_colwidth=80))
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from .analysis.metrics import metrics_to_json
    from .analysis.retrospective import load_incident
    from .analysis.durations import describe_finding
    from .report.labels import MILESTONE_LABELS
    from .model import parse_timestamp, to_iso
    asof = parse_timestamp(args.asof, "UTC") if args.asof else \
        parse_timestamp(datetime.now(timezone.utc)).floor("s")
    data = load_incident(_store(args), args.incident_id, config=_config(args), asof=asof)
    document = metrics_to_json(data.metrics)
    # An unresolved incident's longest silence runs up to this time.
    document["as_of"] = to_iso(asof)
    findings = data.findings.to_dict("records")
    document["data_quality"] = [
        {**metrics_to_json(f), "problem": describe_finding(f, MILESTONE_LABELS)} for f in findings]
    if args.json:
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        width = max(len(k) for k in document)
        for key, value in document.items():
            if key == "data_quality":
                value = "; ".join(f["problem"] for f in value)
            print(f"{key:<{width}}  {'' if value is None else value}")
    return 0


def cmd_retro(args: argparse.Namespace) -> int:
    from .automation.runner import run_retro
    if args.all:
        return cmd_backfill(args)
    if not args.incident_id:
        raise ReviewKitError("retro needs an incident ID, or --all [--since DATE]")
    store = _store(args)
    try:
        incident = store.incident(args.incident_id)
    except UnknownIncidentError:
        from .analysis.retrospective import not_chosen_line
        raise ReviewKitError(not_chosen_line(args.incident_id, store.incidents())) from None
    outputs = run_retro(str(args.store_location), incident["incident_id"], args.out,
                        template=args.template, redact=args.redact, progress=not args.quiet,
                        figure_formats="png,svg" if args.svg else "png")
    print(outputs)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from .automation.queue import backfill
    _store(args)
    summary = backfill(str(args.store_location), args.out, since=args.since, until=args.until,
                       jobs=args.jobs, progress=not args.quiet, template=args.template,
                       redact=args.redact, figure_formats="png,svg" if args.svg else "png")
    print(f"{len(summary.done)} retrospective(s) done, {len(summary.failed)} failed, "
          f"{len(summary.retried)} to retry")
    return 1 if summary.failed or summary.retried or summary.lost else 0


def _log_to_stderr(args: argparse.Namespace) -> None:
    """Long-running commands say what they do, one line per event (never a secret)."""
    import logging
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_serve(args: argparse.Namespace) -> int:
    from .automation.server import ServerSettings, serve
    _log_to_stderr(args)
    config = _config(args)
    settings = ServerSettings.from_config(config, host=args.host, port=args.port,
                                          max_body_bytes=args.max_body_bytes)
    serve(str(args.store_location), args.out, settings=settings, config=config, jobs=args.jobs,
          worker=not args.no_worker, lease_seconds=args.lease)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from .automation.queue import Worker
    _log_to_stderr(args)
    _store(args)
    summary = Worker(str(args.store_location), args.out, jobs=args.jobs, lease_seconds=args.lease,
                     max_attempts=args.max_attempts, backoff_seconds=args.backoff,
                     template=args.template, redact=args.redact).run(once=args.once)
    if args.once:
        print(f"{len(summary.done)} run(s) done, {len(summary.failed)} failed, "
              f"{len(summary.retried)} to retry")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from .automation.runs import list_runs, runs_to_json
    frame = list_runs(_store(args), status=args.status, limit=args.limit)
    if args.json:
        print(json.dumps(runs_to_json(frame), indent=2, ensure_ascii=False))
        return 0
    if frame.empty:
        print("no runs")
        return 0
    shown = frame[["id", "incident_id", "notebook", "trigger", "status", "attempts", "queued_at",
                   "duration", "error"]].copy()
    shown["queued_at"] = shown["queued_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    shown["duration"] = shown["duration"].round(1)
    print(shown.astype(object).fillna("").to_string(index=False, max_colwidth=60))
    return 0


def cmd_on_resolve(args: argparse.Namespace) -> int:
    from .automation.queue import on_resolve
    run_id, status, outputs = on_resolve(
        str(args.store_location), args.incident_id, args.out, config=_config(args),
        pull_source=args.pull, fetch=not args.no_pull, force=args.force,
        template=args.template, redact=args.redact, quiet=args.quiet)
    print(f"run {run_id}: {status}")
    for name, path in ((outputs or {}).get("files") or {}).items():
        print(f"{name}: {path}")
    return 0 if status == "done" else 1


def cmd_pull(args: argparse.Namespace) -> int:
    from .store.pull import pull
    store = None if args.no_ingest else _store(args)
    result = pull(store, args.source, dest=args.dest, since=args.since, until=args.until,
                  base_url=args.base_url, config=_config(args), timeout=args.timeout,
                  quiet=args.quiet)
    if store is not None:
        _keep_history(store, args)  # read back at once when the pull brought nothing new
    print(result)
    return 0


def cmd_trends(args: argparse.Namespace) -> int:
    from .automation.runner import run_trends
    _store(args)  # fail early, in one line, on a bad store
    outputs = run_trends(str(args.store_location), args.out, since=args.since, until=args.until,
                         progress=not args.quiet, redact=args.redact,
                         figure_formats="png,svg" if args.svg else "png")
    print(outputs)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo.run import run_demo
    run_demo(Path(args.out), quiet=args.quiet)
    return 0


def cmd_milestone(args: argparse.Namespace) -> int:
    from .model import to_iso
    from .notebook.widgets import save_milestone
    stamp = save_milestone(_store(args), args.incident_id, args.milestone, args.time)
    print(f"{args.incident_id} {args.milestone} = {to_iso(stamp)}" if stamp is not None else
          f"{args.incident_id} {args.milestone}: back to the time from the timeline")
    return 0


def cmd_link(args: argparse.Namespace) -> int:
    store = _store(args)
    store.link(args.incident_id, args.source, args.external_id)
    _keep_history(store, args)  # a fold moves events from one incident to another
    print(f"linked {args.source} {args.external_id} to {args.incident_id}")
    return 0


def cmd_actions_import(args: argparse.Namespace) -> int:
    from .loaders.action_items import read_action_items
    from .model import zone
    zone(args.tz)
    store = _store(args)
    # Every file parsed before anything is written; then one transaction per file, as ingest.
    parsed = [(path, read_action_items(path, tz=args.tz)) for path in args.paths]
    added = updated = 0
    for path, items in parsed:
        a, u = store.import_action_items(items, path)
        added, updated = added + a, updated + u
    print(f"imported {added + updated} action item(s): {added} new, {updated} updated")
    return 0


def cmd_actions_push(args: argparse.Namespace) -> int:
    from .automation.trackers import push_action_items
    result = push_action_items(_store(args), args.to, config=_config(args), incident_id=args.incident)
    print(result)
    return 0


def cmd_actions_pull(args: argparse.Namespace) -> int:
    from .automation.trackers import TRACKERS, pull_action_items
    store = _store(args)
    items = store.action_items()
    trackers = [args.source] if args.source else [t for t in TRACKERS if (items["tracker"] == t).any()]
    if not trackers:
        print("no action item has been pushed to a tracker yet")
        return 0
    for tracker in trackers:
        print(pull_action_items(store, tracker, config=_config(args)))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from .store import Store
    from .store.migrations import migrate
    store = Store.open(args.store, create=False, check_version=False)
    print(migrate(store, backup=not args.no_backup).describe())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="review-kit",
        description="Post-incident review: one timeline from every source, metrics, "
                    "a retrospective notebook and a trend report.")
    parser.add_argument("--store", default=None,
                        help="store path (SQLite file) or SQLAlchemy URL; default "
                             "$REVIEW_KIT_STORE, else ./review-data/review.db")
    parser.add_argument("--config", default=None,
                        help="TOML config file (default: ./review-kit.toml when present)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    # Options that read naturally after the command too (`review-kit ingest … --quiet`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars")
    common.add_argument("--store", default=argparse.SUPPRESS, help="as above")
    common.add_argument("--config", default=argparse.SUPPRESS, help="as above")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = commands.add_parser

    def add_command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return add(name, parents=[common], **kwargs)


    ingest = add_command("ingest", help="load exports into the store")
    ingest.add_argument("source", metavar="SOURCE",
                        help="loader name (pagerduty, csv, opsgenie, statuspage, slack, "
                             "alertmanager, incidentio) or auto")
    ingest.add_argument("paths", metavar="PATH", nargs="+")
    ingest.add_argument("--incident", default=None, help="attach every record to this incident")
    ingest.add_argument("--tz", default=None,
                        help="zone of timestamps written without one (e.g. Europe/Berlin)")
    ingest.set_defaults(func=cmd_ingest)

    listing = add_command("incidents", help="list incidents")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_incidents)

    timeline = add_command("timeline", help="one incident's merged timeline")
    timeline.add_argument("incident_id", metavar="ID")
    fmt = timeline.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    timeline.set_defaults(func=cmd_timeline)

    metrics = add_command("metrics", help="one incident's milestones and metrics")
    metrics.add_argument("incident_id", metavar="ID")
    metrics.add_argument("--json", action="store_true")
    metrics.add_argument("--asof", metavar="TIME",
                         help="the as-of time an unresolved incident's silence runs to "
                              "(ISO 8601, UTC when no offset; default: now)")
    metrics.set_defaults(func=cmd_metrics)

    retro = add_command("retro", help="run the retrospective notebook for an incident")
    retro.add_argument("incident_id", metavar="ID", nargs="?")
    retro.add_argument("--out", default="out", help="output folder (default ./out)")
    retro.add_argument("--template", default=None, help="postmortem Jinja2 template")
    retro.add_argument("--redact", action="store_true",
                       help="replace emails, phone numbers and secrets in every output")
    retro.add_argument("--all", action="store_true",
                       help="backfill: every incident resolved since --since (once per resolution)")
    retro.add_argument("--since", default=None, help="with --all: resolved on or after (YYYY-MM-DD, UTC)")
    retro.add_argument("--until", default=None, help="with --all: resolved before (YYYY-MM-DD, UTC)")
    retro.add_argument("--jobs", type=int, default=1, help="with --all: notebooks run at once")
    retro.add_argument("--svg", action="store_true", help="write the charts as SVG too")
    retro.set_defaults(func=cmd_retro)

    def worker_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--out", default="out", help="output folder (default ./out)")
        command.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1)")
        command.add_argument("--lease", type=float, default=120.0,
                             help="seconds a dead worker's run waits before another takes it")

    serve = add_command("serve", help="receive webhooks (and run the worker beside them)")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8089)")
    serve.add_argument("--max-body-bytes", type=int, default=None, help="larger bodies get 413 (default 1 MiB)")
    serve.add_argument("--no-worker", action="store_true", help="receive only; run `worker` elsewhere")
    worker_options(serve)
    serve.set_defaults(func=cmd_serve)

    worker = add_command("worker", help="run queued retrospectives")
    worker_options(worker)
    worker.add_argument("--once", action="store_true", help="stop when nothing is left to run now")
    worker.add_argument("--max-attempts", type=int, default=3, help="attempts before a run fails")
    worker.add_argument("--backoff", type=float, default=30.0,
                        help="seconds before the first retry (doubling each time)")
    worker.add_argument("--template", default=None, help="postmortem Jinja2 template")
    worker.add_argument("--redact", action="store_true", help="redact every output")
    worker.set_defaults(func=cmd_worker)

    runs_listing = add_command("runs", help="list notebook runs (queued, running, done, failed)")
    runs_listing.add_argument("--json", action="store_true")
    runs_listing.add_argument("--status", default=None, choices=["queued", "running", "done", "failed"])
    runs_listing.add_argument("--limit", type=int, default=None)
    runs_listing.set_defaults(func=cmd_runs)

    resolve = add_command("on-resolve", help="pull, ingest and run one incident's retrospective now")
    resolve.add_argument("incident_id", metavar="ID")
    resolve.add_argument("--out", default="out", help="output folder (default ./out)")
    resolve.add_argument("--pull", default=None, metavar="SOURCE",
                         help="pull from SOURCE first (default: [pull] source in the config)")
    resolve.add_argument("--no-pull", action="store_true", help="use the store as it is")
    resolve.add_argument("--force", action="store_true", help="run even if this resolution ran")
    resolve.add_argument("--template", default=None, help="postmortem Jinja2 template")
    resolve.add_argument("--redact", action="store_true", help="redact every output")
    resolve.set_defaults(func=cmd_on_resolve)

    pulling = add_command("pull", help="fetch from a source's REST API and ingest")
    pulling.add_argument("source", metavar="SOURCE", choices=["pagerduty", "opsgenie", "incidentio", "statuspage"])
    pulling.add_argument("--since", default=None, help="from (date or ISO time, UTC)")
    pulling.add_argument("--until", default=None, help="until (date or ISO time, UTC)")
    pulling.add_argument("--base-url", default=None, help="API address (default: the public API)")
    pulling.add_argument("--dest", default="review-data/pulls", help="where fetched pages are kept")
    pulling.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    pulling.add_argument("--no-ingest", action="store_true", help="fetch and save only")
    pulling.set_defaults(func=cmd_pull)

    trends = add_command("trends", help="run the trend notebook over the store")
    trends.add_argument("--since", default=None, help="first day (YYYY-MM-DD, UTC)")
    trends.add_argument("--until", default=None, help="day after the last (YYYY-MM-DD, UTC)")
    trends.add_argument("--out", default="out", help="output folder (default ./out)")
    trends.add_argument("--redact", action="store_true",
                        help="replace emails, phone numbers, secrets and people's names in every output")
    trends.add_argument("--svg", action="store_true", help="write the charts as SVG too")
    trends.set_defaults(func=cmd_trends)

    demo = add_command("demo", help="sample data, a retrospective and a trend report")
    demo.add_argument("--out", default="demo-output", help="output folder (default ./demo-output)")
    demo.set_defaults(func=cmd_demo)

    milestone = add_command("milestone", help="set a milestone by hand (as the facilitator's "
                            "widget does); refused if it would put the milestones out of order")
    milestone.add_argument("incident_id", metavar="ID")
    milestone.add_argument("milestone", metavar="MILESTONE",
                           help="started_at, detected_at, acknowledged_at, mitigated_at or resolved_at")
    milestone.add_argument("time", metavar="TIME", nargs="?", default=None,
                           help="ISO 8601 (UTC when no offset); leave out to clear the override")
    milestone.set_defaults(func=cmd_milestone)

    link = add_command("link", help="say that another system's id names an incident")
    link.add_argument("incident_id", metavar="ID")
    link.add_argument("source", metavar="SOURCE")
    link.add_argument("external_id", metavar="EXTERNAL_ID")
    link.set_defaults(func=cmd_link)

    actions = add_command("actions", help="action items: import a history, push to a tracker, pull back")
    actions_commands = actions.add_subparsers(dest="actions_command", required=True, metavar="ACTION")
    importing = actions_commands.add_parser("import", parents=[common],
                                            help="read action items from CSV files")
    importing.add_argument("paths", metavar="CSV", nargs="+",
                           help="columns incident, title, owner, type, status, due, created, closed, url")
    importing.add_argument("--tz", default=None, help="zone of times written without one")
    importing.set_defaults(func=cmd_actions_import)
    pushing = actions_commands.add_parser("push", parents=[common],
                                          help="create (or update, close) an issue per action item")
    pushing.add_argument("--to", required=True, choices=["github", "jira"])
    pushing.add_argument("--incident", default=None, help="only this incident's action items")
    pushing.set_defaults(func=cmd_actions_push)
    pulling_items = actions_commands.add_parser("pull", parents=[common],
                                                help="bring status, assignee, due and closing dates back")
    pulling_items.add_argument("--from", dest="source", default=None, choices=["github", "jira"],
                               help="default: every tracker items were pushed to")
    pulling_items.set_defaults(func=cmd_actions_pull)

    migrate = add_command("migrate", help="upgrade an older store's schema in place")
    migrate.add_argument("--no-backup", action="store_true",
                         help="do not copy a SQLite store to <file>.v<N>.bak first")
    migrate.set_defaults(func=cmd_migrate)
    return parser


def _without_iri_format_checker() -> None:
    """Keep jsonschema (imported by nbformat, so by every notebook run) from loading
    rfc3987_syntax, which compiles a Lark grammar at import: 2.3 s of every `retro`, `trends`
    and `demo` on a 2-core machine (python-jsonschema/jsonschema#1428). It only checks the
    "iri" format, which nothing here validates. Our own processes only: a library user's
    jsonschema keeps it, and once jsonschema is loaded it is too late to matter."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # None: "import rfc3987_syntax" fails


@contextmanager
def _config_for_notebooks(args: argparse.Namespace) -> Iterator[None]:
    """While the command runs, $REVIEW_KIT_CONFIG names the config file it uses (--config, else
    ./review-kit.toml when present): the kernels of the notebooks it runs start in the output
    folder, and would otherwise miss the cadence policy, the text limits and the `[redact]`
    patterns. Restored afterwards (main may run again in the same process)."""
    from .config import CONFIG_NAME, CONFIG_VARIABLE
    chosen = getattr(args, "config", None)
    path = Path(chosen) if chosen else Path.cwd() / CONFIG_NAME
    before = os.environ.get(CONFIG_VARIABLE)
    if chosen or path.is_file():
        os.environ[CONFIG_VARIABLE] = str(path.resolve())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CONFIG_VARIABLE, None)
        else:
            os.environ[CONFIG_VARIABLE] = before


def _check_ids(args: argparse.Namespace) -> None:
    """Incident ids typed on the command line are refused like ids in a file: no control
    characters (a newline in an id could forge a log line or a report heading)."""
    from .model import check_incident_id
    for name, label in (("incident_id", "ID"), ("incident", "--incident"),
                        ("external_id", "EXTERNAL_ID")):
        value = getattr(args, name, None)
        if value is not None:
            check_incident_id(value, None, label)


def _apply_limits(args: argparse.Namespace) -> None:
    """`[limits]` of the config: the span of accepted timestamps and the longest field."""
    if getattr(args, "command", None) not in ("ingest", "serve", "pull"):
        return
    limits = (_config(args).get("limits") or {})
    if not isinstance(limits, dict):
        from .errors import InputError
        raise InputError(None, "[limits]", "expected a table")
    from .model import set_time_range
    set_time_range(limits.get("earliest"), limits.get("latest"))
    if "field_chars" in limits:
        from .loaders import base
        value = limits["field_chars"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1000:
            from .errors import InputError
            raise InputError(None, "[limits] field_chars", "expected a whole number of at least 1000")
        base.MAX_FIELD_CHARS = value


def main(argv: Sequence[str] | None = None) -> int:
    _without_iri_format_checker()
    parser = build_parser()
    args = parser.parse_args(argv)
    from .store import store_location
    args.store_location = store_location(args.store)
    with _config_for_notebooks(args):
        if os.environ.get(DEBUG_VARIABLE):
            return args.func(args)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        _check_ids(args)
        _apply_limits(args)
        code = args.func(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at exit
        return code
    except ReviewKitError as exc:
        print(f"review-kit: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("review-kit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (`| head`) has what it wanted. Point stdout at nothing so the flush at
        # exit does not complain again, and end quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - only a store's failure is answered here
        from .store.database import hidden_url, store_failure
        problem = store_failure(exc, args.store_location)
        if problem is None:
            raise
        print(f"review-kit: {hidden_url(args.store_location)}: cannot use the store: {problem}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
