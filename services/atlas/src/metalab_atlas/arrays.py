"""A run's captured arrays, read for drawing: 1-D as a line, 2-D as a heatmap.

Two records hold arrays: ``capture.data`` entries (``results/{run_id}/{name}.json``:
``{data, dtype, shape, metadata}``, upstream's layout, also under a PostgresStore's file root)
and NumPy artifacts (``.npy``, or ``.npz`` with one array per key), in either layout. Files
are read only inside the run (results: the run's own results directory, symlinks elsewhere
read as absent; artifacts: the artifact containment rules), within size bounds checked before
reading, and ``.npy`` data is parsed here (plain numeric dtypes; never unpickled, numpy not
needed). What is sent is bounded: at most `MAX_POINTS` points of a line and `MAX_CELLS` ×
`MAX_CELLS` cells of a heatmap, by block means (non-finite values left out of a block's mean).
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import struct
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from metalab_atlas.query import NotFound, QueryError
from metalab_atlas.storefiles import StoreFiles
from metalab_atlas.upstream import LOG_NAME, STEPPED, _inside

MAX_POINTS = 2000
MAX_CELLS = 200
MAX_ELEMENTS = 4_000_000  # of one array read (32 MB of float64)
MAX_RESULT_BYTES = 32 * 1024 * 1024  # a results JSON file read to draw it
MAX_LISTED_BYTES = 2 * 1024 * 1024  # results files larger than this are listed unread
MAX_LISTED = 200
ARRAY_SUFFIXES = (".npy", ".npz")
NPY_MAGIC = b"\x93NUMPY"
NPY_CODES = {"f": {2: "e", 4: "f", 8: "d"}, "i": {1: "b", 2: "h", 4: "i", 8: "q"}}
NPY_CODES["u"] = {1: "B", 2: "H", 4: "I", 8: "Q"}
NPY_CODES["b"] = {1: "?"}
KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def results_dir(files: StoreFiles, experiment_id: str, run_id: str) -> str | None:
    """The run's own results directory (upstream layout), if it is one."""
    if not files.is_upstream(experiment_id):
        return None
    directory = os.path.join(files.upstream_base(experiment_id), "results", run_id)
    return directory if _inside(directory, os.path.dirname(directory)) else None


def listing(files: StoreFiles, experiment_id: str, run_id: str) -> list[dict[str, Any]]:
    """The run's arrays: ``capture.data`` entries that are numeric arrays (files over
    `MAX_LISTED_BYTES` listed with ``shape`` null) and NumPy artifacts (``.npz``: each key)."""
    out: list[dict[str, Any]] = []
    directory = results_dir(files, experiment_id, run_id)
    names: list[str] = []
    if directory is not None:
        try:
            names = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
        except OSError:
            names = []
    for name in names[:MAX_LISTED]:
        path = os.path.join(directory or "", name)
        entry = _listed_result(path, directory or "", name[: -len(".json")])
        if entry is not None:
            out.append(entry)
    for artifact in files.artifacts(experiment_id, run_id):
        if len(out) >= MAX_LISTED:
            break
        if str(artifact["path"]).lower().endswith(ARRAY_SUFFIXES):
            out.extend(_listed_artifact(files, experiment_id, run_id, artifact["path"]))
    return out[:MAX_LISTED]


def _listed_result(path: str, directory: str, name: str) -> dict[str, Any] | None:
    if not LOG_NAME.fullmatch(name) or not _inside(path, directory):
        return None
    try:
        size = os.stat(path).st_size
    except OSError:
        return None
    entry: dict[str, Any] = {"source": "result", "name": name, "shape": None, "dtype": None}
    if size > MAX_LISTED_BYTES:
        return {**entry, "size": size}
    found = _load_result(path)
    if found is None:
        return None
    meta = found.get("metadata")
    if isinstance(meta, dict) and meta.get("type") == STEPPED:
        return None
    shape = _shape(found.get("data"))
    if shape is None or not 1 <= len(shape) <= 2:
        return None
    dtype = found.get("dtype")
    return {**entry, "shape": shape, "dtype": dtype if isinstance(dtype, str) else None}


def _listed_artifact(
    files: StoreFiles, experiment_id: str, run_id: str, path: str
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        with _artifact(files, experiment_id, run_id, path) as handle:
            for key, header in _headers(handle, path):
                shape, dtype = header
                if 1 <= len(shape) <= 2:
                    item = {"source": "artifact", "name": path if key is None else f"{path}:{key}"}
                    out.append({**item, "path": path, "key": key, "shape": shape, "dtype": dtype})
    except (QueryError, NotFound, OSError, ValueError, zipfile.BadZipFile):
        return []
    return out


def read(
    files: StoreFiles,
    experiment_id: str,
    run_id: str,
    *,
    result: str = "",
    artifact: str = "",
    key: str = "",
) -> dict[str, Any]:
    """One array, ready to draw (bounded): ``result`` names a ``capture.data`` entry,
    ``artifact`` a ``.npy``/``.npz`` artifact (``key``: the array in an ``.npz``)."""
    if bool(result) == bool(artifact):
        raise QueryError("name one array: result=NAME or artifact=PATH")
    if result:
        values, shape, dtype = _read_result(files, experiment_id, run_id, result)
        name = result
    else:
        values, shape, dtype = _read_artifact(files, experiment_id, run_id, artifact, key)
        name = f"{artifact}:{key}" if key else artifact
    source = "result" if result else "artifact"
    return {"name": name, "source": source, "dtype": dtype, **drawn(values, shape)}


def _read_result(
    files: StoreFiles, experiment_id: str, run_id: str, name: str
) -> tuple[list[Any], list[int], str | None]:
    if not LOG_NAME.fullmatch(name):
        raise QueryError("invalid result name")
    directory = results_dir(files, experiment_id, run_id)
    path = os.path.join(directory or "", f"{name}.json")
    if directory is None or not _inside(path, directory):
        raise NotFound("no such array")
    try:
        size = os.stat(path).st_size
    except OSError:
        raise NotFound("no such array") from None
    if size > MAX_RESULT_BYTES:
        raise QueryError(f"the array's file is over {MAX_RESULT_BYTES // 2**20} MiB")
    found = _load_result(path)
    if found is None:
        raise NotFound("no such array")
    data = found.get("data")
    shape = _shape(data)
    if shape is None or not isinstance(data, list):
        raise QueryError("not a numeric array")
    dtype = found.get("dtype")
    return _flat(data, len(shape)), shape, dtype if isinstance(dtype, str) else None


def _load_result(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(MAX_RESULT_BYTES + 1))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _shape(data: Any) -> list[int] | None:
    """The shape of a rectangular 1-D or 2-D list of numbers (None for anything else)."""
    if not isinstance(data, list) or not data:
        return None
    if all(_is_value(v) for v in data):
        return [len(data)]
    if all(isinstance(row, list) for row in data):
        width = len(data[0])
        if width and all(len(row) == width and all(_is_value(v) for v in row) for row in data):
            return [len(data), width]
    return None


def _is_value(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _flat(data: list[Any], dims: int) -> list[Any]:
    return data if dims == 1 else [v for row in data for v in row]


class _Artifact:
    def __init__(self, fd: int) -> None:
        self.handle = os.fdopen(fd, "rb")

    def __enter__(self) -> IO[bytes]:
        return self.handle

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def _artifact(files: StoreFiles, experiment_id: str, run_id: str, path: str) -> _Artifact:
    if not path.lower().endswith(ARRAY_SUFFIXES):
        raise QueryError("only .npy and .npz artifacts are arrays")
    return _Artifact(files.open_artifact(experiment_id, run_id, path))


def _read_artifact(
    files: StoreFiles, experiment_id: str, run_id: str, path: str, key: str
) -> tuple[list[Any], list[int], str | None]:
    if key and not KEY.fullmatch(key):
        raise QueryError("invalid array key")
    with _artifact(files, experiment_id, run_id, path) as handle:
        try:
            if path.lower().endswith(".npy"):
                if key:
                    raise QueryError("a .npy artifact holds one array: no key")
                return _npy(handle)
            with zipfile.ZipFile(handle) as archive:
                keys = [n[: -len(".npy")] for n in archive.namelist() if n.endswith(".npy")]
                chosen = key or (keys[0] if len(keys) == 1 else "")
                if chosen not in keys:
                    raise QueryError(
                        f"name one of the archive's arrays: key={' | '.join(keys[:20])}"
                    )
                info = archive.getinfo(f"{chosen}.npy")
                if info.file_size > MAX_ELEMENTS * 8 + 4096:
                    raise QueryError(f"the array is over {MAX_ELEMENTS} elements")
                with archive.open(info) as member:
                    return _npy(member)
        except (ValueError, zipfile.BadZipFile, struct.error, EOFError) as exc:
            raise QueryError(f"not a readable NumPy file: {str(exc)[:80]}") from None


def _headers(handle: IO[bytes], path: str) -> Iterator[tuple[str | None, tuple[list[int], str]]]:
    """(key, (shape, dtype)) of each array in a ``.npy`` or ``.npz`` file (headers only)."""
    if path.lower().endswith(".npy"):
        shape, dtype, _ = _npy_header(handle)
        yield None, (shape, dtype)
        return
    with zipfile.ZipFile(handle) as archive:
        for info in archive.infolist()[:MAX_LISTED]:
            if info.filename.endswith(".npy") and KEY.fullmatch(info.filename[: -len(".npy")]):
                with archive.open(info) as member:
                    shape, dtype, _ = _npy_header(member)
                yield info.filename[: -len(".npy")], (shape, dtype)


def _npy_header(handle: IO[bytes]) -> tuple[list[int], str, bool]:
    """(shape, dtype descr, fortran order) from a ``.npy`` header; ValueError otherwise."""
    if handle.read(6) != NPY_MAGIC:
        raise ValueError("not a .npy file")
    major = handle.read(2)[:1]
    length_bytes = handle.read(2 if major == b"\x01" else 4)
    length = int.from_bytes(length_bytes, "little")
    if length > 65536:
        raise ValueError("header too long")
    header = ast.literal_eval(handle.read(length).decode("latin-1"))
    if not isinstance(header, dict):
        raise ValueError("bad header")
    shape, descr, fortran = header.get("shape"), header.get("descr"), header.get("fortran_order")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError("bad shape")
    if not isinstance(descr, str):
        raise ValueError(f"dtype {str(descr)[:40]} is not a plain number type")
    return list(shape), descr, bool(fortran)


def _npy(handle: IO[bytes]) -> tuple[list[Any], list[int], str]:
    """The values (flat, row-major), shape and dtype of a ``.npy`` stream of plain numbers."""
    shape, descr, fortran = _npy_header(handle)
    order, kind, size = descr[:1], descr[1:2], descr[2:]
    code = NPY_CODES.get(kind, {}).get(int(size)) if size.isdigit() else None
    if code is None or order not in "<>|=":
        raise QueryError(f"dtype {descr[:20]} is not a plain number type")
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise QueryError(f"the array is over {MAX_ELEMENTS} elements")
    raw = handle.read(count * int(size))
    if len(raw) != count * int(size):
        raise QueryError("the array's file is truncated")
    endian = ">" if order == ">" else "<"
    values: list[Any] = list(struct.unpack(f"{endian}{count}{code}", raw))
    if fortran and len(shape) == 2:
        rows, cols = shape
        values = [values[c * rows + r] for r in range(rows) for c in range(cols)]
    return values, shape, descr


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _blocks(n: int, most: int) -> list[tuple[int, int]]:
    """``[start, end)`` of at most ``most`` nearly equal consecutive blocks of ``n`` items."""
    count = min(n, most)
    return [(i * n // count, (i + 1) * n // count) for i in range(count)]


def _mean(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return math.fsum(finite) / len(finite) if finite else None


def drawn(flat: list[Any], shape: list[int]) -> dict[str, Any]:
    """What the page draws: a line (1-D) or a heatmap (2-D), reduced by block means."""
    if not 1 <= len(shape) <= 2 or 0 in shape:
        raise QueryError(f"only non-empty 1-D and 2-D arrays are drawn (shape {shape})")
    numbers = [_number(v) for v in flat]
    finite = [v for v in numbers if v is not None]
    low, high = (min(finite), max(finite)) if finite else (None, None)
    base = {"shape": shape, "min": low, "max": high}
    if len(shape) == 1:
        blocks = _blocks(shape[0], MAX_POINTS)
        values = [_mean(numbers[a:b]) for a, b in blocks]
        return {
            **base,
            "kind": "line",
            "downsampled": len(blocks) < shape[0],
            "index": [(a + b - 1) / 2 for a, b in blocks],
            "values": values,
        }
    rows, cols = shape
    row_blocks, col_blocks = _blocks(rows, MAX_CELLS), _blocks(cols, MAX_CELLS)
    grid = [
        [
            _mean([numbers[r * cols + c] for r in range(r0, r1) for c in range(c0, c1)])
            for c0, c1 in col_blocks
        ]
        for r0, r1 in row_blocks
    ]
    return {
        **base,
        "kind": "heatmap",
        "downsampled": len(row_blocks) < rows or len(col_blocks) < cols,
        "rows": [a for a, _ in row_blocks],
        "cols": [a for a, _ in col_blocks],
        "values": grid,
    }
