"""The loaders wing: one module per source, parse only.

Each module reads one source's real export format and yields `Batch(incidents, events,
aliases)`; it never writes and never imports the store. `base` holds the canonical-frame
helpers every loader shares, `_jsonstream` the streaming JSON reader.

May import: the core (`model`, `errors`, `config`, `paths`) only. Tests: tests/test_loader_*.py, tests/test_conformance_*.py.

The registry: source name → Loader, like papermill's engines.

Built-ins are found by module: every module of this package (but `base`) that defines a
module-level `LOADER` is registered under `LOADER.name`, so adding a source is adding a
module. Third parties register through the `review_kit.loaders` entry-point group
(`name = "package.module:LOADER"`).
"""
from __future__ import annotations

import importlib
import pkgutil
import threading
from importlib.metadata import entry_points

from ..errors import UnknownLoaderError
from .base import Batch, LoadContext, Loader, events_frame, incident_row

__all__ = ["Batch", "LoadContext", "Loader", "LoaderRegistry", "events_frame",
           "get_loader", "incident_row", "loaders"]

ENTRY_POINT_GROUP = "review_kit.loaders"


class LoaderRegistry:
    def __init__(self) -> None:
        self._loaders: dict[str, Loader] = {}
        self._discovered = False
        self._lock = threading.Lock()

    def register(self, loader: Loader) -> None:
        if not loader.name:
            raise ValueError(f"{loader!r} has no name")
        self._loaders[loader.name] = loader

    def _discover(self) -> None:
        if self._discovered:
            return
        with self._lock:  # the receiver ingests on several threads at once
            if self._discovered:
                return
            for module in pkgutil.iter_modules(__path__):
                if module.name.startswith("_") or module.name == "base":
                    continue
                loader = getattr(importlib.import_module(f"{__name__}.{module.name}"), "LOADER", None)
                if loader is not None:
                    self.register(loader)
            for entry in entry_points(group=ENTRY_POINT_GROUP):
                self.register(entry.load())
            self._discovered = True

    def get(self, name: str) -> Loader:
        self._discover()
        try:
            return self._loaders[name]
        except KeyError:
            raise UnknownLoaderError(name, list(self._loaders)) from None

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._loaders)

    def all(self) -> list[Loader]:
        self._discover()
        return [self._loaders[n] for n in sorted(self._loaders)]


loaders = LoaderRegistry()


def get_loader(name: str) -> Loader:
    return loaders.get(name)
