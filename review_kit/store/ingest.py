"""Ingest orchestration: pick the loader for each input (or recognise it), show progress."""
from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any, Iterable

from ..config import source_options
from ..errors import InputError
from ..loaders import LoadContext, Loader, loaders
from .database import IngestResult, Store

SNIFF_BYTES = 64 * 1024
FILES_PER_TRANSACTION = 500


def _head(path: Path) -> str:
    if path.is_dir():
        return ""
    try:
        with path.open("rb") as handle:
            return handle.read(SNIFF_BYTES).decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None


def recognise(path: Path) -> list[Loader]:
    """Every loader that says the input is in its format."""
    head = _head(path)
    return [loader for loader in loaders.all() if loader.sniff(path, head)]


def _folder_files(path: Path) -> list[Path]:
    """A folder no loader claims as a whole (a Slack export is one) stands for the files in
    it, in name order, hidden ones left out; anything else for itself."""
    if not path.is_dir() or recognise(path):
        return [path]
    return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))


def choose_loader(source: str, path: Path) -> Loader:
    """The loader for one input: the named one (refusing a file that is clearly another
    source's), or for `auto` the one loader that recognises it."""
    if not path.exists():
        raise InputError(path, None, "no such file or folder")
    if source == "auto":
        found = recognise(path)
        if len(found) == 1:
            return found[0]
        if not found:
            raise InputError(path, None, "format not recognised; name the source instead of "
                             f"auto (one of {', '.join(loaders.names())})")
        raise InputError(path, None, "format is ambiguous: looks like "
                         f"{' and '.join(l.name for l in found)}; name the source")
    loader = loaders.get(source)
    head = _head(path)
    if not loader.sniff(path, head):
        others = [other.name for other in loaders.all() if other is not loader and other.sniff(path, head)]
        if others:
            raise InputError(path, None, f"looks like a {others[0]} export, not {source}; "
                             f"use `ingest {others[0]}` or `ingest auto`")
    return loader


def ingest_paths(store: Store, source: str, paths: Iterable[str | Path], *,
                 incident_id: str | None = None, tz: str | None = None,
                 config: dict[str, Any] | None = None, quiet: bool = False) -> IngestResult:
    """Ingest every input; each input file is its own transaction."""
    config = config or {}
    total = IngestResult()
    inputs = [Path(p) for p in paths]
    if source == "auto":
        inputs = [item for path in inputs for item in _folder_files(path)]
    plan = []
    for path in inputs:
        previous = plan[-1][0] if plan else None
        # A run of files of one format (a history kept as a thousand small files): once the
        # first has been told apart from every other format, the next ones need only be
        # claimed by the same loader; one it does not claim is recognised afresh.
        if (source == "auto" and previous is not None and path.is_file()
                and previous.sniff(path, _head(path))):
            plan.append((previous, path))
        else:
            plan.append((choose_loader(source, path), path))
    progress_bar = None
    if not quiet:
        from tqdm import tqdm
        # Only worth drawing when it takes a while; tqdm's delay keeps quick ingests silent.
        progress_bar = tqdm(unit=" events", desc="ingest", delay=2.0, file=sys.stderr, leave=False)
    try:
        # Files of one source in a row are read together and written in one transaction
        # (at most FILES_PER_TRANSACTION at a time): a history kept as a thousand small
        # files pays the per-file setup once, not a thousand times.
        items = [(loader, item) for loader, path in plan for item in loader.expand(path)]
        for loader, group in itertools.groupby(items, key=lambda pair: pair[0]):
            files = [item for _, item in group]
            ctx = LoadContext(tz=tz, incident_id=incident_id,
                              config=source_options(config, loader.name), quiet=quiet)
            for start in range(0, len(files), FILES_PER_TRANSACTION):
                result = store.ingest_many(
                    loader, files[start:start + FILES_PER_TRANSACTION], ctx,
                    progress=progress_bar.update if progress_bar is not None else None)
                total.add(result)
    finally:
        if progress_bar is not None:
            progress_bar.close()
    return total
