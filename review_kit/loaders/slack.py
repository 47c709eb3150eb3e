"""Slack workspace exports (the ZIP or its unpacked folder) as incident-channel chat events.

PATH is the export ZIP, the export folder, one channel folder inside it, or one day file
(`<channel>/YYYY-MM-DD.json`); `users.json` and `channels.json` are looked for at the top
of the export (for a channel folder or day file: in the folder above the channel). An export
without `channels.json` still loads: its folders are its channels, named as the folders.

Which incident a channel belongs to, first rule that applies:

1. `--incident ID`: every channel given belongs to ID (the channels named by the config's
   `channel`/`channels`, else the channel folder or day file PATH names, else every channel).
2. `links` in the config: `{channel name or id: incident id}`, for channels named like no
   incident. (Channels that are selected reach linked incidents without it: their
   (slack, channel id) and (slack, channel name) aliases follow links already in the store,
   such as those incident.io's `slack_channel_id` / `slack_channel_name` record.)
3. `channel_pattern`, a regular expression with a named group `id`, matched at the start of
   the channel name; the incident id is `incident_template` filled with that group (and
   `{channel}`, the whole name). Defaults: `DEFAULT_CHANNEL_PATTERN` reads `inc-1234-db`
   as `1234` and `inc-2023-10-24-teal-ostrich` (incident.io's naming) as
   `2023-10-24-teal-ostrich`; `DEFAULT_INCIDENT_TEMPLATE` (`INC-{id}`) turns them into
   `INC-1234` and `INC-2023-10-24-teal-ostrich`.
4. A channel selected explicitly (config `channel`/`channels`, or PATH is the channel) whose
   name matches nothing becomes the incident named after the channel itself.

Other channels are skipped and counted (logged); an export where no channel is selected is
an error that lists the channels, so a wrong pattern never passes silently.

Messages: plain, `thread_broadcast`, `file_share`, `me_message` and bot messages → `message`
(bots with actor_type `bot`, named by `username` / `bot_profile.name`); `channel_join` /
`group_join` → `responder_joined`; everything else (`channel_leave`, `channel_topic`,
`channel_purpose`, `channel_name`, `pinned_item`, `channel_archive`, `bot_add`, unknown
subtypes…) → `note`, because these are records of the channel rather than conversation.
Thread replies start their summary with `↳ ` and keep `thread_ts` in `raw`. Slack markup
becomes readable text (`<@U1>` → `@Real Name`, `<#C1|ops>` → `#ops`, `<!here>` → `@here`,
`<https://x|label>` → `label (https://x)`, `&amp;` → `&`); the text stays untrusted.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import re
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import orjson

from ..errors import InputError
from .base import Batch, LoadContext, Loader, events_frame

log = logging.getLogger(__name__)

SOURCE = "slack"
BATCH_MESSAGES = 50_000
DEFAULT_CHANNEL_PATTERN = (
    r"^inc(?:ident)?[-_](?P<id>\d{4}-\d{2}-\d{2}(?:-[a-z0-9]+)*|\d+)(?:[-_]|$)")
DEFAULT_INCIDENT_TEMPLATE = "INC-{id}"
CHANNEL_LISTS = ("channels.json", "groups.json", "mpims.json", "dms.json")
THREAD_MARK = "↳ "

_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
_MARKUP = re.compile(r"<([^<>\n]*)>")
_ESCAPES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
# Subtypes that are somebody talking in the channel; the rest are records of the channel.
_MESSAGE_SUBTYPES = frozenset({"bot_message", "thread_broadcast", "file_share", "me_message"})
_JOIN_SUBTYPES = frozenset({"channel_join", "group_join"})
# Bulky fields that duplicate `text` or describe files; dropped from `raw` to keep rows small
# (files and reactions come back summarised).
_DROP = frozenset({"blocks", "user_profile", "files", "file", "attachments", "reactions", "edited"})


def _encode(record: dict) -> str:
    """Compact JSON text of a parsed message (orjson: one per message on the hot path)."""
    try:
        return orjson.dumps(record).decode()
    except TypeError:                      # integers beyond 64 bits: the standard encoder copes
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass
class _Channel:
    folder: str                 # the folder name in the export
    id: str | None = None
    name: str | None = None
    days: list[str] = field(default_factory=list)   # member names, sorted by date

    @property
    def key(self) -> str:
        # The channel's stable id when channels.json says it, else the folder name.
        return self.id or self.folder

    @property
    def label(self) -> str:
        return self.name or self.folder


class _Export:
    """The files of an export, from a folder or a ZIP, read one member at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self.root = ""           # member prefix of the export's top (ZIPs may nest one folder)
        if path.is_dir():
            self.members = _folder_members(path)
        else:
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise InputError(path, None, f"not a Slack export ZIP: {exc}") from None
            self.members = [n for n in self._zip.namelist() if not n.endswith("/")]
            self.root = _zip_root(self.members)
        self._member_set = set(self.members)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def display(self, member: str) -> str:
        return str(self.path / member)

    def has(self, member: str) -> bool:
        return (self.root + member) in self._member_set

    def read_json(self, member: str) -> Any:
        name = self.root + member
        try:
            if self._zip is not None:
                data = self._zip.read(name)
            else:
                data = (self.path / name).read_bytes()
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise InputError(self.display(name), None, f"cannot read: {exc}") from None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        # The standard parser says where a broken file breaks in the words people know.
        try:
            return json.loads(data)
        except UnicodeDecodeError as exc:
            raise InputError(self.display(name), f"byte {exc.start}", "not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise InputError(self.display(name), f"line {exc.lineno} column {exc.colno}",
                             f"invalid JSON: {exc.msg}") from None

    def channels(self) -> dict[str, _Channel]:
        """Channel folders holding day files, keyed by folder name."""
        found: dict[str, _Channel] = {}
        for name in self.members:
            if not name.startswith(self.root):
                continue
            parts = name[len(self.root):].split("/")
            if len(parts) == 2 and _DAY_FILE.match(parts[1]):
                found.setdefault(parts[0], _Channel(parts[0])).days.append(name[len(self.root):])
        for channel in found.values():
            channel.days.sort()
        return found


def _folder_members(path: Path) -> list[str]:
    # Two levels are all an export has: top files and channel/day files.
    members: list[str] = []
    with os.scandir(path) as top:
        for entry in top:
            if entry.is_file():
                members.append(entry.name)
            elif entry.is_dir():
                with os.scandir(entry.path) as inner:
                    members.extend(f"{entry.name}/{e.name}" for e in inner if e.is_file())
    return members


def _zip_root(members: list[str]) -> str:
    """'' for a flat export; 'folder/' when the ZIP was made from the export's folder."""
    for marker in ("users.json", "channels.json"):
        for name in members:
            if name.endswith("/" + marker) and name.count("/") == 1:
                if not any(n == marker for n in members):
                    return name[: -len(marker)]
    return ""


class SlackLoader(Loader):
    name = SOURCE
    description = "Slack workspace export (ZIP or folder; one channel, one day file, or all)"

    def sniff(self, path: Path, head: str) -> bool:
        path = Path(path)
        if path.is_dir():
            return _looks_like_export_folder(path)
        if path.suffix.lower() == ".zip" or head.startswith("PK\x03\x04"):
            try:
                with zipfile.ZipFile(path) as archive:
                    names = archive.namelist()
            except (zipfile.BadZipFile, OSError):
                return False
            return any(n.rsplit("/", 1)[-1] in ("users.json", "channels.json") for n in names) \
                or any(_DAY_FILE.match(n.rsplit("/", 1)[-1]) for n in names)
        # A lone day file: an array of messages with Slack's string `ts`.
        return bool(re.match(r"\s*\[\s*\{", head)
                    and re.search(r'"ts"\s*:\s*"\d{9,11}\.\d+"', head)
                    and re.search(r'"type"\s*:\s*"message"', head))

    def load(self, path: Path, ctx: LoadContext) -> Iterator[Batch]:
        path = Path(path)
        if not path.exists():
            raise InputError(path, None, "no such file or folder")
        export, selected_days, explicit_folder = _open(path)
        try:
            yield from self._load(path, export, selected_days, explicit_folder, ctx)
        finally:
            export.close()

    def _load(self, path: Path, export: _Export, selected_days: list[str] | None,
              explicit_folder: str | None, ctx: LoadContext) -> Iterator[Batch]:
        config = ctx.config or {}
        channels = export.channels()
        _apply_channel_lists(export, channels)
        users = _read_users(export)
        wanted = _wanted_channels(config, path)
        plan = _plan(channels, wanted, explicit_folder, config, ctx.incident_id, path)
        if selected_days is not None:
            for channel, _ in plan:
                channel.days = [d for d in channel.days if d in selected_days]
        names_by_id = {c.id: c.label for c in channels.values() if c.id}
        render = _Renderer({k: v["name"] for k, v in users.items()}, names_by_id).render

        incidents: dict[str, dict] = {}
        aliases: list[dict] = []
        for channel, incident in plan:
            # Only what Slack knows: the store fills gaps and never lets it overwrite the
            # incident tool's fields.
            incidents.setdefault(incident, {"incident_id": incident, "source": SOURCE})
            aliases.extend({"incident_id": incident, "source": SOURCE, "external_id": ext}
                           for ext in dict.fromkeys(x for x in (channel.id, channel.label) if x))

        rows: list[dict] = []
        places: list[tuple[str, int]] = []
        first = True
        for channel, incident in plan:
            seq = 0
            for day in channel.days:
                shown = export.display(export.root + day)
                with _no_gc():
                    messages = export.read_json(day)
                    if not isinstance(messages, list):
                        raise InputError(shown, "$", _not_a_day_file(messages))
                    new_rows, new_places = _rows(messages, channel, incident, users, render,
                                                 shown, seq)
                    del messages
                seq += len(new_rows)
                rows.extend(new_rows)
                places.extend(new_places)
                if len(rows) >= BATCH_MESSAGES:
                    yield _batch(rows, places, path, ctx, incidents if first else {},
                                 aliases if first else [])
                    first, rows, places = False, [], []
        if rows or first:
            yield _batch(rows, places, path, ctx, incidents if first else {},
                         aliases if first else [])


@contextmanager
def _no_gc() -> Iterator[None]:
    """Parsed JSON holds no reference cycles, so the cycle collector only burns time on it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _open(path: Path) -> tuple[_Export, list[str] | None, str | None]:
    """The export a PATH belongs to, the day files it narrows to, and the channel it names."""
    if path.is_file() and _DAY_FILE.match(path.name) and path.suffix == ".json":
        channel = path.parent.name
        return _Export(path.parent.parent), [f"{channel}/{path.name}"], channel
    if path.is_dir() and not _looks_like_export_folder(path) and any(
            _DAY_FILE.match(p.name) for p in path.iterdir() if p.is_file()):
        return _Export(path.parent), None, path.name
    if path.is_file() and not zipfile.is_zipfile(path):
        raise InputError(path, None, _not_an_export(path))
    return _Export(path), None, None


def _looks_like_export_folder(path: Path) -> bool:
    if any((path / name).is_file() for name in ("users.json", *CHANNEL_LISTS)):
        return True
    try:
        return any(child.is_dir() and any(_DAY_FILE.match(p.name) for p in child.iterdir())
                   for child in path.iterdir())
    except OSError:
        return False


def _not_an_export(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            document = json.loads(handle.read())
    except (OSError, ValueError):
        document = None
    if isinstance(document, list) and document and isinstance(document[0], dict) \
            and "ts" in document[0]:
        return ("a Slack day file must be named YYYY-MM-DD.json inside its channel folder")
    if document is None:
        return ("not a Slack export: expected the export ZIP, its folder, a channel folder "
                "or a day file named YYYY-MM-DD.json")
    return _not_a_day_file(document)


def _not_a_day_file(document: Any) -> str:
    looks = _looks_like(document)
    expected = "expected a Slack day file (a JSON array of messages with string `ts`)"
    return f"looks like {looks}, not a Slack export; {expected}" if looks else \
        f"{expected}, found {type(document).__name__}"


def _looks_like(document: Any) -> str | None:
    """A short name for well-known JSON shapes of other sources, for refusal messages."""
    if isinstance(document, list):
        document = document[0] if document and isinstance(document[0], dict) else {}
    if not isinstance(document, dict):
        return None
    keys = set(document)
    if "log_entries" in keys or ("event" in keys and isinstance(document["event"], dict)
                                 and "event_type" in document["event"]):
        return "PagerDuty"
    if "incidents" in keys and "page" in keys or "incident" in keys and "page" in keys:
        return "a Statuspage incidents document"
    if "incidents" in keys or "incident_updates" in keys or "incident_status" in keys:
        return "an incident.io or PagerDuty incidents response"
    if "alerts" in keys and "version" in keys:
        return "an Alertmanager webhook payload"
    if "alert" in keys and "action" in keys or "data" in keys and "requestId" in keys:
        return "Opsgenie"
    if "channels" in keys or {"id", "name", "profile"} <= keys:
        return "Slack metadata (users.json / channels.json) rather than messages"
    return None


def _apply_channel_lists(export: _Export, channels: dict[str, _Channel]) -> None:
    """Channel ids and names from channels.json & co; DM folders are named by their id."""
    for listing in CHANNEL_LISTS:
        if not export.has(listing):
            continue
        entries = export.read_json(listing)
        if not isinstance(entries, list):
            raise InputError(export.display(export.root + listing), "$",
                             f"expected a JSON array of channels, found {type(entries).__name__}")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or "id" not in entry:
                raise InputError(export.display(export.root + listing), f"$[{i}]",
                                 "expected a channel object with an `id`")
            folder = entry.get("name") or entry["id"]
            channel = channels.get(folder) or channels.get(entry["id"])
            if channel is not None:
                channel.id, channel.name = entry["id"], entry.get("name") or entry["id"]


def _read_users(export: _Export) -> dict[str, dict]:
    """user id → {name, bot}; an export without users.json shows ids instead of names."""
    if not export.has("users.json"):
        log.info("%s: no users.json; people are shown by their Slack ids", export.path)
        return {}
    entries = export.read_json("users.json")
    if not isinstance(entries, list):
        raise InputError(export.display(export.root + "users.json"), "$",
                         f"expected a JSON array of users, found {type(entries).__name__}")
    users: dict[str, dict] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "id" not in entry:
            raise InputError(export.display(export.root + "users.json"), f"$[{i}]",
                             "expected a user object with an `id`")
        users[entry["id"]] = {"name": _person_name(entry), "bot": bool(entry.get("is_bot"))}
    return users


def _person_name(entry: Mapping[str, Any]) -> str:
    profile = entry.get("profile") or {}
    for candidate in (entry.get("real_name"), profile.get("real_name"),
                      profile.get("display_name"), entry.get("name")):
        if candidate and str(candidate).strip():
            return str(candidate).strip()
    return str(entry.get("id"))


def _wanted_channels(config: Mapping[str, Any], path: Path) -> list[str] | None:
    wanted: list[str] = []
    if config.get("channel"):
        wanted.append(str(config["channel"]))
    channels = config.get("channels")
    if channels:
        if isinstance(channels, str) or not isinstance(channels, (list, tuple)):
            raise InputError(path, "config channels", "expected a list of channel names")
        wanted.extend(str(c) for c in channels)
    return [w.lstrip("#") for w in wanted] or None


def _plan(channels: dict[str, _Channel], wanted: list[str] | None, explicit_folder: str | None,
          config: Mapping[str, Any], incident_id: str | None,
          path: Path) -> list[tuple[_Channel, str]]:
    """(channel, incident id) for every channel to load, in name order."""
    pattern_text = config.get("channel_pattern", DEFAULT_CHANNEL_PATTERN)
    try:
        pattern = re.compile(pattern_text, re.IGNORECASE)
    except re.error as exc:
        raise InputError(path, "config channel_pattern", f"not a regular expression: {exc}") from None
    if "id" not in pattern.groupindex:
        raise InputError(path, "config channel_pattern", "needs a named group (?P<id>…)")
    template = str(config.get("incident_template", DEFAULT_INCIDENT_TEMPLATE))
    links = {str(k).lstrip("#"): str(v) for k, v in (config.get("links") or {}).items()}

    if explicit_folder is not None:
        if explicit_folder not in channels:
            raise InputError(path, None, "no day files (YYYY-MM-DD.json) in this channel")
        explicit = {explicit_folder}
    elif wanted:
        explicit = set()
        for name in wanted:
            hit = next((f for f, c in channels.items() if name in (f, c.id, c.name)), None)
            if hit is None:
                raise InputError(path, "config channel", f"no channel {name!r} in the export; "
                                 f"it has: {', '.join(sorted(c.label for c in channels.values()))}")
            explicit.add(hit)
    else:
        explicit = set()

    plan: list[tuple[_Channel, str]] = []
    skipped: list[str] = []
    for folder in sorted(channels):
        channel = channels[folder]
        if explicit and folder not in explicit:
            continue
        if incident_id:
            plan.append((channel, incident_id))
            continue
        linked = links.get(channel.id or "") or links.get(channel.label)
        if linked:
            plan.append((channel, linked))
            continue
        match = pattern.match(channel.label)
        if match and match.group("id"):
            try:
                plan.append((channel, template.format(channel=channel.label, **match.groupdict())))
            except (KeyError, IndexError, ValueError) as exc:
                raise InputError(path, "config incident_template",
                                 f"cannot fill {template!r}: {exc}") from None
        elif folder in explicit:
            plan.append((channel, channel.label))
        else:
            skipped.append(channel.label)
    if skipped:
        log.info("%s: skipped %d channel(s) not named like an incident: %s",
                 path, len(skipped), ", ".join(skipped))
    if not plan:
        listed = ", ".join(skipped) if skipped else "none"
        raise InputError(path, None, f"no incident channel: none of the export's channels "
                         f"({listed}) matches channel_pattern {pattern_text!r}; name the "
                         f"incident with --incident ID or a channel in the config")
    return plan


def readable_text(text: str, people: Mapping[str, str] | None = None,
                  channels: Mapping[str, str] | None = None) -> str:
    """Slack message markup as plain text; `people` and `channels` map ids to names.

    >>> readable_text("<!here> see <https://x.example/a?b=1&amp;c=2|the graph> &amp; <@U1>",
    ...               {"U1": "Ann Lee"})
    '@here see the graph (https://x.example/a?b=1&c=2) & @Ann Lee'
    """
    return _Renderer(people or {}, channels or {}).render(text)


class _Renderer:
    """Slack markup → readable text, with people and channels named."""

    def __init__(self, people: Mapping[str, str], channels: Mapping[str, str]) -> None:
        self.people = people
        self.channels = channels

    def render(self, text: str) -> str:
        if "<" in text:
            text = _MARKUP.sub(self._tag, text)
        if "&" in text:
            for escaped, plain in _ESCAPES:
                text = text.replace(escaped, plain)
        return text

    def _tag(self, match: re.Match) -> str:
        body = match.group(1)
        target, _, label = body.partition("|")
        if target.startswith("@"):
            return "@" + (self.people.get(target[1:]) or label or target[1:])
        if target.startswith("#"):
            return "#" + (label or self.channels.get(target[1:]) or target[1:])
        if target.startswith("!"):
            command = target[1:]
            if command in ("channel", "here", "everyone", "group"):
                return "@" + command
            if label:
                return label
            if command.startswith("subteam^"):
                return "@" + command.split("^", 1)[1]
            return "@" + command
        if label and label != target:
            if target.startswith("mailto:") and target[7:] == label:
                return label
            return f"{label} ({target})"
        return target[7:] if target.startswith("mailto:") else target


def _rows(messages: list, channel: _Channel, incident: str, users: Mapping[str, dict],
          render: Callable[[str], str], shown: str,
          seq: int = 0) -> tuple[list[dict], list[tuple[str, int]]]:
    """Event rows from one day file, in `ts` order.

    The hot path of big exports: one pass of plain dict work per message, with the times
    converted for the whole file at once.
    """
    keyed: list[tuple[int, int, dict]] = []
    for i, message in enumerate(messages):
        try:
            ts = message["ts"]
            seconds, dot, fraction = ts.partition(".")
            if not (dot and ts.isascii() and seconds.isdigit() and fraction.isdigit()
                    and 9 <= len(seconds) <= 11 and len(fraction) <= 6):
                raise ValueError
        except (KeyError, TypeError, AttributeError, ValueError):
            _bad_message(message, i, shown)
        keyed.append((int(seconds) * 1_000_000 + int(fraction.ljust(6, "0")), i, message))
    if not keyed:
        return [], []
    keyed.sort(key=_first)
    stamps = np.datetime_as_string(np.array([k[0] for k in keyed], dtype="datetime64[us]"),
                                   unit="us", timezone="UTC").tolist()
    key, label, channel_id = channel.key, channel.label, channel.id
    rows: list[dict] = []
    places: list[tuple[str, int]] = []
    for (_, i, message), at in zip(keyed, stamps):
        kind, actor, actor_type = _kind_and_actor(message, users)
        ts = message["ts"]
        text = message.get("text") or ""
        if not text and "attachments" in message:
            text = _attachment_text(message)
        if "<" in text or "&" in text:
            text = render(text)
        thread_ts = message.get("thread_ts")
        if thread_ts is not None and thread_ts != ts:
            text = THREAD_MARK + text
        # The parsed message is ours and dropped after this: trim it in place into `raw`.
        summarised = {}
        if "files" in message or "file" in message:
            text = _with_files(message, text, summarised)
        if "reactions" in message and isinstance(message["reactions"], list):
            summarised["reactions"] = {r.get("name"): r.get("count") for r in message["reactions"]
                                       if isinstance(r, dict)}
        for bulky in _DROP.intersection(message):
            del message[bulky]
        message["channel"] = label
        if channel_id:
            message["channel_id"] = channel_id
        if summarised:
            message.update(summarised)
        rows.append({"incident_id": incident, "at": at, "seq": seq, "kind": kind, "actor": actor,
                     "actor_type": actor_type, "summary": text, "raw": _encode(message),
                     "source_id": f"{key}:{ts}"})
        seq += 1
        places.append((shown, i))
    return rows, places


def _first(item: tuple) -> Any:
    return item[0]


def _bad_message(message: Any, i: int, shown: str) -> None:
    if not isinstance(message, dict):
        raise InputError(shown, f"$[{i}]", f"expected a message object, found "
                         f"{type(message).__name__}")
    ts = message.get("ts")
    problem = "missing" if ts is None else f"not a Slack timestamp: {ts!r}"
    raise InputError(shown, f"$[{i}].ts", problem)


def _kind_and_actor(message: Mapping[str, Any],
                    users: Mapping[str, dict]) -> tuple[str, str | None, str]:
    subtype = message.get("subtype")
    user_id = message.get("user")
    user = users.get(user_id) if user_id else None
    talking = subtype is None or subtype in _MESSAGE_SUBTYPES
    if subtype == "bot_message" or (talking and message.get("bot_id")):
        bot = message.get("bot_profile") or {}
        actor = message.get("username") or bot.get("name") or (user and user["name"]) \
            or message.get("bot_id") or user_id
        return "message", actor, "bot"
    if user:
        actor, actor_type = user["name"], "bot" if user["bot"] else "person"
    else:
        profile = message.get("user_profile") or {}
        actor = profile.get("real_name") or profile.get("display_name") or user_id
        actor_type = "person"
    if talking:
        return "message", actor, actor_type
    if subtype in _JOIN_SUBTYPES:
        return "responder_joined", actor, actor_type
    return "note", actor, actor_type


def _attachment_text(message: Mapping[str, Any]) -> str:
    # Bots often say everything in attachments (alert titles, links).
    for attachment in message.get("attachments") or ():
        if isinstance(attachment, dict):
            text = attachment.get("fallback") or attachment.get("pretext") \
                or attachment.get("title") or attachment.get("text")
            if text:
                return str(text)
    return ""


def _with_files(message: Mapping[str, Any], text: str, raw: dict) -> str:
    """The text with shared files named, and the files summarised in raw."""
    files = message.get("files") or ([message["file"]] if isinstance(message.get("file"), dict) else [])
    files = [f for f in files if isinstance(f, dict)]
    if files:
        raw["files"] = [{k: f.get(k) for k in ("id", "name", "title", "permalink")} for f in files]
    names = [n for n in (f.get("name") or f.get("title") for f in files) if n and n not in text]
    if names:
        text = (text + " " if text else "") + "[file: " + ", ".join(names) + "]"
    return text


def _batch(rows: list[dict], places: list[tuple[str, int]], path: Path, ctx: LoadContext,
           incidents: dict[str, dict], aliases: list[dict]) -> Batch:
    def locate(i: int) -> str:
        return f"{places[i][0]} $[{places[i][1]}]" if i < len(places) else f"record {i + 1}"
    with _no_gc():
        events = events_frame(rows, source=SOURCE, path=path, tz=ctx.tz, locate=locate)
    return Batch(incidents=list(incidents.values()), events=events, aliases=aliases)


LOADER = SlackLoader()
