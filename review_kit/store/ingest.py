"""Ingest orchestration: pick the loader for each input (or recognise it), show progress."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable

from ..config import source_options
from ..errors import InputError
from ..loaders import LoadContext, Loader, loaders
from .database import IngestResult, Store

SNIFF_BYTES = 64 * 1024


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
    plan = [(choose_loader(source, path), path) for path in inputs]
    progress_bar = None
    if not quiet:
        from tqdm import tqdm
        # Only worth drawing when it takes a while; tqdm's delay keeps quick ingests silent.
        progress_bar = tqdm(unit=" events", desc="ingest", delay=2.0, file=sys.stderr, leave=False)
    try:
        for loader, path in plan:
            ctx = LoadContext(tz=tz, incident_id=incident_id,
                              config=source_options(config, loader.name), quiet=quiet)
            for item in loader.expand(path):
                result = store.ingest(loader, item, ctx,
                                      progress=progress_bar.update if progress_bar is not None else None)
                total.add(result)
    finally:
        if progress_bar is not None:
            progress_bar.close()
    return total
