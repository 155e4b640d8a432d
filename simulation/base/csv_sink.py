"""Columns and CSV files as the generator writes them: fast, quoted only when needed,
guarded against spreadsheet formulas as the product's own CSV writer is, owner-only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from simulation.base.numeric import I64, Bool
from store.csv_out import FORMULA_START, PLAIN_NUMBER
from store.private_files import open_private_binary

__all__ = ["CsvSink", "date_column", "decimal_column", "id_column", "join_text", "label_column"]


def decimal_column(values: I64, scale: int, mask: Bool | None = None) -> pa.Array:
    """Integers in units of 10**-scale as a decimal column (written as e.g. 12.30)."""
    v = np.ascontiguousarray(values, dtype=np.int64)
    raw = np.empty((len(v), 2), dtype=np.int64)
    raw[:, 0] = v
    raw[:, 1] = v >> 63
    arr = pa.Array.from_buffers(pa.decimal128(18, scale), len(v), [None, pa.py_buffer(raw)])
    if mask is not None and mask.any():
        arr = pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)
    return arr


def date_column(days: I64, mask: Bool | None = None) -> pa.Array:
    return pa.array(days.astype(np.int32), type=pa.int32(), mask=mask).cast(pa.date32())


def label_column(labels: Sequence[str], codes: I64, mask: Bool | None = None) -> pa.Array:
    return pa.array(list(labels), type=pa.string()).take(
        pa.array(codes.astype(np.int32), type=pa.int32(), mask=mask)
    )


def id_column(prefix: str, n: int, width: int) -> pa.Array:
    num = pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(num, width, "0"), "")


class CsvSink:
    """Appends rows to a CSV file; values are quoted only when they need it."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.path = path
        self.rows = 0
        self._fh: BinaryIO = open_private_binary(path)  # names and numbers: owner-only
        self._fh.write((",".join(header) + "\n").encode())

    def __enter__(self) -> CsvSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()

    def write(self, columns: Sequence[pa.Array]) -> None:
        n = len(columns[0])
        if n == 0:
            return
        self.rows += n
        columns = [_guarded(col) for col in columns]
        needs_quotes = False
        for col in columns:
            if (
                pa.types.is_string(col.type)
                and pc.any(pc.match_substring_regex(col, '[",\r\n]')).as_py()
            ):
                needs_quotes = True
        if not needs_quotes:
            table = pa.table({f"c{i}": c for i, c in enumerate(columns)})
            sink = pa.BufferOutputStream()
            pacsv.write_csv(
                table,
                sink,
                pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=1 << 16),
            )
            self._fh.write(sink.getvalue().to_pybytes())
            return
        # slow path: quote by hand and join
        cells = []
        for col in columns:
            s = pc.cast(col, pa.string())
            if pa.types.is_string(col.type):
                quote = pc.match_substring_regex(s, '[",\r\n]')
                quoted = pc.binary_join_element_wise(
                    '"', pc.replace_substring(s, '"', '""'), '"', ""
                )
                s = pc.if_else(quote, quoted, s)
            cells.append(pc.fill_null(s, ""))
        joined = pc.binary_join_element_wise(*cells, ",")
        body = pc.binary_join_element_wise(joined, "\n", "")
        offsets = np.frombuffer(body.buffers()[1], dtype=np.int32)[
            body.offset : body.offset + len(body) + 1
        ]
        data = body.buffers()[2]
        self._fh.write(memoryview(data)[int(offsets[0]) : int(offsets[-1])])


_FORMULA = f"^(?:{FORMULA_START})"
_NUMBER = f"^(?:{PLAIN_NUMBER})$"


def _guarded(col: pa.Array) -> pa.Array:
    """The product's CSV writer's guard (``store.csv_out``), vectorised with its own rule.

    A phone in an international layout (``+1 415-555-0134``) reads as a formula to a
    spreadsheet and gets the apostrophe; the importer reads it off again.
    """
    if not pa.types.is_string(col.type):
        return col
    needs = pc.and_(
        pc.match_substring_regex(col, _FORMULA),
        pc.invert(pc.match_substring_regex(col, _NUMBER)),
    )
    if not pc.any(needs).as_py():
        return col
    return pc.if_else(needs, join_text("'", col), col)


def join_text(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")
