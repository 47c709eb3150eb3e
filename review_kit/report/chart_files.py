"""Chart PNGs that carry a key: a hash of everything the chart was drawn from.

A chart already on disk is shown as it is when its key matches what the notebook has just
loaded, and drawn again when anything differs (data, facilitator's decisions, redaction,
resolution, the drawing code itself). This is what lets the runner draw the retrospective's
charts while the kernel is still starting, on the other core, instead of the kernel drawing
them after its own imports: the kernel then neither imports matplotlib nor draws. The
trend report's charts are drawn the same way, beside the cells that compute them.
"""
from __future__ import annotations

import hashlib
import json
import struct
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import pandas as pd

KEY_FIELD = "review-kit key"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Where the drawing happens: a change to any of them changes every key.
_DRAWING_CODE = ("plots/__init__.py", "plots/timeline.py", "plots/trends.py", "chart_files.py")


@lru_cache(maxsize=1)
def _code_version() -> bytes:
    from importlib.metadata import PackageNotFoundError, version
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for name in _DRAWING_CODE:
        digest.update((root / name).read_bytes())
    try:
        digest.update(version("matplotlib").encode())
    except PackageNotFoundError:  # pragma: no cover - matplotlib is a dependency
        pass
    return digest.digest()


def _feed(digest: "hashlib._Hash", part: Any) -> None:
    if isinstance(part, pd.DataFrame):
        # The index too: a trend chart's periods are its frame's index.
        digest.update(json.dumps([str(c) for c in part.columns]).encode())
        digest.update(json.dumps([str(t) for t in part.dtypes]).encode())
        digest.update(json.dumps([str(part.index.dtype), str(part.index.name)]).encode())
        digest.update(pd.util.hash_pandas_object(part.index.to_frame(index=False), index=False)
                      .to_numpy().tobytes())
        if len(part.columns):
            digest.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
    else:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    digest.update(b"\x00")


def chart_key(name: str, *inputs: Any) -> str:
    """The key of chart `name` drawn from `inputs` (frames, mappings, lists, scalars)."""
    digest = hashlib.sha256(_code_version())
    digest.update(name.encode())
    for part in inputs:
        _feed(digest, part)
    return digest.hexdigest()


def png_key(path: str | Path) -> str | None:
    """The key written into a PNG's text chunks, or None (no file, no key, not a PNG)."""
    try:
        with open(path, "rb") as handle:
            if handle.read(8) != _PNG_SIGNATURE:
                return None
            while True:
                header = handle.read(8)
                if len(header) < 8:
                    return None
                length, kind = struct.unpack(">I4s", header)
                if kind in (b"IDAT", b"IEND"):
                    return None  # matplotlib writes text chunks before the image data
                data = handle.read(length)
                handle.seek(4, 1)  # CRC
                if kind == b"tEXt":
                    keyword, _, text = data.partition(b"\x00")
                elif kind == b"zTXt":
                    keyword, _, rest = data.partition(b"\x00")
                    text = zlib.decompress(rest[1:])
                elif kind == b"iTXt":
                    keyword, _, rest = data.partition(b"\x00")
                    # compression flag, method, language\0, translated keyword\0, text
                    compressed = rest[:1] == b"\x01"
                    text = rest[2:].split(b"\x00", 2)[-1]
                    text = zlib.decompress(text) if compressed else text
                else:
                    continue
                if keyword.decode("latin-1") == KEY_FIELD:
                    return text.decode("utf-8", "replace")
    except (OSError, struct.error, zlib.error):
        return None


def chart_png(path: str | Path, key: str, draw: Callable[[], Any], *, dpi: int) -> Path:
    """`path` (a .png) holding the chart of `key`: the file as it is when its key matches,
    else the figure `draw()` returns, written there with the key."""
    path = Path(path)
    if png_key(path) == key:
        return path
    from .plots.timeline import save_figure
    save_figure(draw(), path.with_suffix(""), formats=("png",), dpi=dpi,
                png_text={KEY_FIELD: key})
    return path
