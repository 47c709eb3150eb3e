"""Results kept between runs as bytes: NumPy's npz, never pickle (a store may be shared, and
loading a pickle runs code), each stamped with what it was made from so a reader can tell
a current one from a stale one and make it again.

Strings go as one UTF-8 block with each one's length (a text from a source may hold a line
break); sparse matrices as their CSR arrays; frames column by column.
"""
from __future__ import annotations

import io
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = ["frame_from_bytes", "frame_to_bytes", "sparse_from", "sparse_parts", "strings_from",
           "strings_parts", "times_from", "times_parts"]


def strings_parts(prefix: str, values: Sequence[Any]) -> dict[str, np.ndarray]:
    """`values` (as text) under `prefix`: the joined block and each one's length."""
    values = [str(v) for v in values]
    return {prefix: np.frombuffer("\n".join(values).encode("utf-8", "surrogatepass"), dtype=np.uint8),
            f"{prefix}_lengths": np.fromiter(map(len, values), dtype=np.int64, count=len(values))}


def strings_from(prefix: str, parts: Mapping[str, np.ndarray]) -> np.ndarray:
    """The strings `strings_parts` kept under `prefix`, as an object array."""
    lengths = parts[f"{prefix}_lengths"]
    if len(lengths) == 0:
        return np.array([], dtype=object)
    text = parts[prefix].tobytes().decode("utf-8", "surrogatepass")
    pieces = text.split("\n")
    if len(pieces) != len(lengths):  # a value holds a line break: cut by the lengths instead
        ends = np.cumsum(lengths + 1) - 1
        pieces = [text[a:b] for a, b in zip((ends - lengths).tolist(), ends.tolist())]
    return np.array(pieces, dtype=object)


def times_parts(key: str, known: str, values: Any) -> dict[str, np.ndarray]:
    """Times (aware, or text a UTC parse reads) as UTC microseconds under `key`, and under
    `known` which of them are times at all."""
    stamps = pd.to_datetime(pd.Series(values), utc=True).dt.as_unit("us")
    return {key: stamps.to_numpy(dtype="datetime64[us]").view("int64"),
            known: stamps.notna().to_numpy(dtype=bool)}


def times_from(key: str, known: str, parts: Mapping[str, np.ndarray]) -> pd.Series:
    """The times `times_parts` kept, UTC, NaT where none was."""
    # NaT put in the integers before they become times: setting it afterwards through a
    # mask costs more than the conversion (a kept frame has several time columns).
    micros = np.where(parts[known], parts[key], np.iinfo(np.int64).min)
    return pd.Series(pd.DatetimeIndex(micros.view("datetime64[us]")).tz_localize("UTC"))


def sparse_parts(prefix: str, matrix: sparse.spmatrix) -> dict[str, np.ndarray]:
    matrix = sparse.csr_matrix(matrix)
    return {f"{prefix}_data": matrix.data, f"{prefix}_indices": matrix.indices,
            f"{prefix}_indptr": matrix.indptr, f"{prefix}_shape": np.array(matrix.shape, dtype=np.int64)}


def sparse_from(prefix: str, parts: Mapping[str, np.ndarray]) -> sparse.csr_matrix:
    return sparse.csr_matrix((parts[f"{prefix}_data"], parts[f"{prefix}_indices"],
                              parts[f"{prefix}_indptr"]), shape=tuple(parts[f"{prefix}_shape"]))


def _column_parts(name: str, column: pd.Series) -> dict[str, np.ndarray]:
    key = f"column:{name}"
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return times_parts(f"{key}:utc_us", f"{key}:known", column)
    if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
        known = column.notna().to_numpy(dtype=bool)
        return {**strings_parts(f"{key}:text", column.where(column.notna(), "").tolist()),
                f"{key}:known": known}
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) and \
            column.dtype.kind in "iub" and hasattr(column.dtype, "numpy_dtype"):
        # A nullable integer or boolean (pd.NA where unknown): its values and what is known.
        empty = False if column.dtype.kind == "b" else 0
        return {f"{key}:masked": column.to_numpy(dtype=column.dtype.numpy_dtype, na_value=empty),
                f"{key}:known": column.notna().to_numpy(dtype=bool)}
    return {f"{key}:values": column.to_numpy()}


def frame_to_bytes(frame: pd.DataFrame, stamp: Mapping[str, int]) -> bytes:
    """`frame` (text, UTC datetime, numeric, boolean and nullable numeric columns; its index
    is not kept) as bytes, with the integers of `stamp` that say what it was made from."""
    parts: dict[str, np.ndarray] = {f"stamp:{k}": np.int64(v) for k, v in stamp.items()}
    parts.update(strings_parts("columns", list(frame.columns)))
    for name in frame.columns:
        parts.update(_column_parts(str(name), frame[name]))
    buffer = io.BytesIO()
    np.savez(buffer, **parts)
    return buffer.getvalue()


def frame_from_bytes(data: bytes, stamp: Mapping[str, int]) -> pd.DataFrame | None:
    """The frame `frame_to_bytes` kept, or None when its stamp is not `stamp` (made from
    something else) or it cannot be read: the caller makes it again."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as parts:
            found = {k: int(parts[f"stamp:{k}"]) for k in stamp}
            if found != {k: int(v) for k, v in stamp.items()}:
                return None
            columns: dict[str, Any] = {}
            for name in strings_from("columns", parts):
                key = f"column:{name}"
                if f"{key}:utc_us" in parts:
                    values = times_from(f"{key}:utc_us", f"{key}:known", parts)
                elif f"{key}:masked" in parts:
                    values = pd.Series(pd.array(parts[f"{key}:masked"]))
                    values[~parts[f"{key}:known"]] = pd.NA
                elif f"{key}:text" in parts:
                    values = pd.Series(strings_from(f"{key}:text", parts), dtype=object)
                    values[~parts[f"{key}:known"]] = None
                else:
                    values = pd.Series(parts[f"{key}:values"])
                columns[name] = values
            return pd.DataFrame(columns)
    except (OSError, ValueError, KeyError, EOFError):
        return None
