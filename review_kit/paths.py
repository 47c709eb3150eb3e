"""Where things live: the repository's notebooks and templates, and safe file names."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

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


def safe_name(name: str, *, max_length: int = 100, fold_case: bool = False) -> str:
    """A file or folder name made from an untrusted id: no separators, no `..`, no control
    characters, never empty. The name is NFKC-normalised (and case-folded with `fold_case`,
    for a filesystem that folds case); a name that changed on the way gets a hash of the id
    as given, so two ids never share a name: ``INC-1``, ``ＩＮＣ-1`` and (folding case)
    ``inc-1`` name three folders.

    >>> safe_name("PT4KHLK")
    'PT4KHLK'
    >>> safe_name("../../etc/x").startswith("etc_x-")
    True
    >>> safe_name("ＩＮＣ-1") == safe_name("INC-1")
    False
    """
    original = str(name)
    text = unicodedata.normalize("NFKC", original)
    if fold_case:
        text = text.casefold()
    cleaned = _UNSAFE.sub("_", text).strip("._-") or "incident"
    if cleaned != original or len(cleaned) > max_length or cleaned in {".", ".."}:
        digest = hashlib.sha1(original.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cleaned = f"{cleaned[:max_length - 9]}-{digest}"
    return cleaned


@lru_cache(maxsize=64)
def folds_case(folder: str) -> bool:
    """True when the filesystem holding `folder` treats ``a`` and ``A`` as one name (macOS,
    Windows): probed with a file of our own, created exclusively."""
    handle, probe = tempfile.mkstemp(prefix=".case-probe-", dir=folder)
    os.close(handle)
    try:
        return os.path.exists(os.path.join(folder, os.path.basename(probe).upper()))
    finally:
        os.unlink(probe)


def incident_folder(out_dir: str | os.PathLike, incident_id: str) -> Path:
    """OUT/<safe name of the id>: one folder per incident id, never shared by two ids."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    return inside(out, safe_name(incident_id, fold_case=folds_case(str(out))))


def _file_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


# mkstemp makes files only their owner may read; a report gets the mode of any new file.
_FILE_MODE = _file_mode()


@contextmanager
def replacing(target: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `target` to write the new file to; renamed over `target` when
    the block ends without error, removed otherwise.

    The temporary file is created exclusively under an unpredictable name (nobody can plant
    a symlink there in advance), and the rename replaces whatever is at `target`, a symlink
    included, without following it. A reader sees the old file or the new one, never half.
    """
    target = Path(target)
    # The target's suffix last: writers that check it (papermill wants .ipynb) are content.
    handle, temporary = tempfile.mkstemp(prefix=f".{target.stem[:60]}.", suffix=f".tmp{target.suffix}",
                                         dir=target.parent)
    os.close(handle)
    try:
        os.chmod(temporary, _FILE_MODE)
        yield Path(temporary)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def write_file(target: str | os.PathLike, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8) to `target` through `replacing`."""
    with replacing(target) as temporary:
        temporary.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(target)


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
