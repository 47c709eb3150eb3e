"""The user's TOML configuration: per-source options and the communication cadence policy."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from .errors import InputError

CONFIG_NAME = "review-kit.toml"
# The config file a CLI command uses, for the notebooks it runs (see load_config).
CONFIG_VARIABLE = "REVIEW_KIT_CONFIG"


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """`path` if given, else the file $REVIEW_KIT_CONFIG names, else ./review-kit.toml when
    present, else {}. The CLI names the file it uses in $REVIEW_KIT_CONFIG while a command
    runs, so the notebooks it runs (whose kernels start in the output folder) read the same:
    a report's cadence policy, text limits and `[redact]` patterns are the command's.

    Shape: `[sources.<name>]` tables hold loader options (`severity_map`, `channel_pattern`…);
    `[cadence.SEV1]` `external = 1200`, `internal = 1800` set the update policy in seconds;
    `[redact]` `patterns = ["…"]` (more secret shapes, regular expressions) and
    `ip_addresses = true`; `[limits]` `text_chars` (shown before a text is cut, default
    2000), `field_chars` (longest field an ingest accepts, default 8 MiB), `earliest` /
    `latest` (the span of accepted timestamps, default 1970-01-01 / 2100-01-01).
    """
    if path is None and os.environ.get(CONFIG_VARIABLE):
        path = os.environ[CONFIG_VARIABLE]
    if path is None:
        candidate = Path.cwd() / CONFIG_NAME
        if not candidate.is_file():
            return {}
        path = candidate
    path = Path(path)
    try:
        with path.open("rb") as handle:
            config = tomllib.load(handle)
    except FileNotFoundError:
        raise InputError(path, None, "config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, None, f"invalid TOML: {exc}") from None
    sources = config.get("sources", {})
    if not isinstance(sources, dict) or not all(isinstance(v, dict) for v in sources.values()):
        raise InputError(path, "sources", "expected tables like [sources.pagerduty]")
    return config


def source_options(config: dict[str, Any], source: str) -> dict[str, Any]:
    return dict(config.get("sources", {}).get(source, {}))
