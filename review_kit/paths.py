"""Where things live: the repository's notebooks and templates, and safe file names."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The project is installed editable (`pip install -e .`): notebooks/ and templates/ sit beside
# the package; an installed copy carries them as package data under the same names.
PROJECT_DIR = PACKAGE_DIR.parent


def project_file(*parts: str) -> Path:
    for base in (PROJECT_DIR, PACKAGE_DIR / "_data"):
        candidate = base.joinpath(*parts)
        if candidate.exists():
            return candidate
    return PROJECT_DIR.joinpath(*parts)


NOTEBOOKS_DIR = project_file("notebooks")
TEMPLATES_DIR = project_file("templates")

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]+")


def safe_name(name: str, *, max_length: int = 100) -> str:
    """A file or folder name made from an untrusted id: no separators, no `..`, no control
    characters, never empty; an altered name gets a hash suffix so two ids never collide.

    >>> safe_name("PT4KHLK")
    'PT4KHLK'
    >>> safe_name("../../etc/x").startswith("etc_x-")
    True
    """
    text = unicodedata.normalize("NFKC", str(name))
    cleaned = _UNSAFE.sub("_", text).strip("._-") or "incident"
    if cleaned != text or len(cleaned) > max_length or cleaned in {".", ".."}:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cleaned = f"{cleaned[:max_length - 9]}-{digest}"
    return cleaned


def inside(base: Path, *parts: str) -> Path:
    """base/parts, refusing anything that would resolve outside base."""
    base = base.resolve()
    target = base.joinpath(*parts).resolve()
    if base != target and base not in target.parents:
        raise ValueError(f"{target} is outside {base}")
    return target


def output_folder(output_dir: str | Path | None) -> Path:
    """The folder a notebook writes its files to (made if missing; the working folder if unset)."""
    folder = Path(output_dir or ".").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
