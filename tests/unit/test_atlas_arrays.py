"""Atlas's own ``.npy`` reader and the block means that bound what is drawn."""

from __future__ import annotations

import io
from typing import Any

import pytest

from metalab_atlas import arrays
from metalab_atlas.query import QueryError


def npy(array: Any) -> io.BytesIO:
    np = pytest.importorskip("numpy")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    buffer.seek(0)
    return buffer


def test_fortran_order_and_byte_orders_read_row_major() -> None:
    np = pytest.importorskip("numpy")
    grid = np.asfortranarray(np.arange(6, dtype=">f8").reshape(2, 3))
    values, shape, dtype = arrays._npy(npy(grid))
    assert (values, shape, dtype) == ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [2, 3], ">f8")
    flags, shape, _ = arrays._npy(npy(np.array([True, False])))
    assert flags == [True, False] and shape == [2]


def test_objects_and_oversized_arrays_are_refused_unread() -> None:
    np = pytest.importorskip("numpy")
    with pytest.raises(QueryError, match="not a plain number type"):
        arrays._npy(npy(np.array([{"a": 1}], dtype=object)))
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }"
    huge = io.BytesIO(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
    with pytest.raises(QueryError, match="over 4000000 elements"):
        arrays._npy(huge)  # the header alone: no data follows, none is read
    with pytest.raises(ValueError, match="not a .npy file"):
        arrays._npy(io.BytesIO(b"PK\x03\x04 not numpy"))


def test_block_means_bound_lines_and_heatmaps() -> None:
    line = arrays.drawn(list(range(4001)), [4001])
    assert len(line["values"]) == arrays.MAX_POINTS and line["downsampled"]
    assert line["values"][0] == 0.5 and line["index"][0] == 0.5  # items 0 and 1
    short = arrays.drawn([1, None, float("nan"), 3], [4])
    assert short["values"] == [1.0, None, None, 3.0] and (short["min"], short["max"]) == (1, 3)
    heat = arrays.drawn([1.0] * (401 * 3), [401, 3])
    assert len(heat["values"]) == arrays.MAX_CELLS and heat["rows"][:2] == [0, 2]
    with pytest.raises(QueryError, match="1-D and 2-D"):
        arrays.drawn([0.0] * 8, [2, 2, 2])
