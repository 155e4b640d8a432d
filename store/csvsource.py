"""Opening a CSV export safely: every file-level check happens before any row is read.

A file that is not text in the expected encoding, not delimited, or binary (an Excel
workbook saved as .csv) is refused here with a message that names the problem, so the
importer never writes half a file.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from store.csv_out import unguard
from store.errors import ImportFileError

_CHUNK = 1 << 20
_DELIMITERS = ",;\t|"


@dataclass(frozen=True)
class CsvSource:
    path: Path
    encoding: str
    delimiter: str
    header: tuple[str, ...]
    approx_rows: int

    def rows(self) -> Iterator[tuple[int, dict[str, str] | str]]:
        """Yield (line number, row) per data row; a malformed row yields an error text.

        Line numbers are those a spreadsheet shows: the header is line 1.
        """
        with self.path.open(encoding=self.encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter, strict=True)
            next(reader)
            width = len(self.header)
            line = reader.line_num
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield reader.line_num, f"cannot be read as CSV: {exc}"
                    line = reader.line_num
                    continue
                start, line = line + 1, reader.line_num
                if not any(values) or (len(values) == 1 and not values[0].strip()):
                    continue
                if len(values) != width:
                    yield start, f"has {len(values)} fields where the header has {width}"
                    continue
                # A cell our CSV writer guarded against spreadsheets reads as it was written.
                values = [unguard(v) if v[:1] == "'" else v for v in values]
                yield start, dict(zip(self.header, values, strict=True))


def open_csv(path: Path, encoding: str = "utf-8") -> CsvSource:
    """Check the whole file and return a source to stream its rows from."""
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    if path.is_dir():
        raise ImportFileError(f"{path}: is a folder, not a CSV file")
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise ImportFileError(f"unknown encoding {encoding!r}: use e.g. utf-8 or cp1252") from exc
    with path.open("rb") as raw:
        head = raw.read(8)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            f"{path}: is an Excel workbook or ZIP archive, not CSV: save it as CSV (UTF-8)"
        )
    lines, sample = _scan(path, encoding)
    if not sample.strip():
        raise ImportFileError(f"{path}: is empty: expected a header row and data rows")
    delimiter = _sniff_delimiter(path, sample)
    header_values = next(csv.reader([sample.splitlines()[0]], delimiter=delimiter))
    header = tuple(h.strip() for h in header_values)
    blanks = [i + 1 for i, h in enumerate(header) if not h]
    if blanks:
        raise ImportFileError(f"{path}: header column(s) {blanks} have no name")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ImportFileError(f"{path}: the header repeats column(s) {', '.join(dupes)}")
    encoding = "utf-8-sig" if encoding.replace("_", "-").lower() in {"utf-8", "utf8"} else encoding
    return CsvSource(path, encoding, delimiter, header, max(lines - 1, 0))


def _scan(path: Path, encoding: str) -> tuple[int, str]:
    """Decode the whole file once: refuse binary data and undecodable bytes early."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    lines = 0
    sample = ""
    offset = 0
    with path.open("rb") as raw:
        while chunk := raw.read(_CHUNK):
            if b"\x00" in chunk:
                raise ImportFileError(f"{path}: contains NUL bytes: this is a binary file, not CSV")
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = min(exc.start, len(chunk) - 1)
                line = lines + chunk[:at].count(b"\n") + 1
                raise ImportFileError(
                    f"{path}: is not valid {encoding} (byte 0x{chunk[at]:02x} on line {line}, "
                    f"byte offset {offset + at}): re-save it as UTF-8, or pass --encoding "
                    "with the file's real encoding (e.g. cp1252)"
                ) from exc
            lines += chunk.count(b"\n")
            offset += len(chunk)
            if len(sample) < 65536:
                sample += text[: 65536 - len(sample)]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{path}: ends in the middle of a character: {exc}") from exc
    if sample and not sample.endswith("\n"):
        lines += 1
    return lines, sample.lstrip("\ufeff")


def _sniff_delimiter(path: Path, sample: str) -> str:
    first = sample.splitlines()[0]
    counts = {d: first.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        try:
            return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
        except csv.Error:
            return ","
    return best
