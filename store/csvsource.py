"""Opening a CSV export safely: every file-level check happens before any row is read.

A file that is not text in the expected encoding, not delimited, or binary (an Excel
workbook saved as .csv) is refused here with a message that names the problem, so the
importer never writes half a file. So is a file with a quote that is never closed: the
rows after it would otherwise be read as one field and vanish.

A byte order mark names the encoding whatever ``--encoding`` says: Excel's "Unicode
text" is UTF-16 with one, and a user expects it to just work. UTF-16 without a mark is
recognised by where its NUL bytes fall (mostly on one side of each byte pair, in
any script) and by reading as text, and named in the error with the ``--encoding`` to
pass; other NUL bytes are refused as binary.
"""

from __future__ import annotations

import codecs
import csv
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from store.csv_out import unguard
from store.errors import ImportFileError

_CHUNK = 1 << 20
_DELIMITERS = ",;\t|"
# Longest mark first: UTF-32 LE's starts with UTF-16 LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


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


def open_csv(path: Path, encoding: str = "utf-8", *, check_quotes: bool = True) -> CsvSource:
    """Check the whole file and return a source to stream its rows from.

    ``check_quotes`` False skips the check for unclosed quotes, for a file that is CSV
    only by its reader's leave (the matrix in YAML).
    """
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    if path.is_dir():
        raise ImportFileError(f"{path}: is a folder, not a CSV file")
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise ImportFileError(f"unknown encoding {encoding!r}: use e.g. utf-8 or cp1252") from exc
    with path.open("rb") as raw:
        head = raw.read(4096)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            f"{path}: is an Excel workbook or ZIP archive, not CSV: save it as CSV (UTF-8)"
        )
    encoding = _encoding_of(path, head, encoding)
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
    if check_quotes:
        _check_quotes(path, encoding, delimiter, len(header))
    return CsvSource(path, encoding, delimiter, header, max(lines - 1, 0))


def _encoding_of(path: Path, head: bytes, requested: str) -> str:
    """The encoding to read with: the byte order mark's, else the one asked for.

    Raises when the file is UTF-16 without a mark but was not asked to be read so.
    """
    for mark, encoding in _BOMS:
        if head.startswith(mark):
            return encoding
    if _is_wide(requested):
        return requested
    wide = _utf16_without_mark(head)
    if wide is not None:
        raise ImportFileError(
            f"{path}: is UTF-16 text ({wide.upper()}) without a byte order mark, not "
            f"{requested}: pass --encoding {wide}, or re-save it as CSV (UTF-8)"
        )
    return requested


# Delimiters, line breaks, ids, dates and numbers are below U+0100 in any script and
# make up more than this share of a CSV's characters; a stray NUL in a short binary
# file stays under it.
_MIN_NUL_SHARE = 0.2
# Characters at U+xx00 (U+4E00, the ideographic space U+3000, U+0100) put a NUL on the
# other side; binary data has about as many on both sides.
_MAX_OTHER_SIDE = 0.5
# Not text: controls (bar tab, CR, LF), unassigned, private use and lone surrogates.
_NOT_TEXT = frozenset({"Cc", "Cn", "Co", "Cs"})
_MAX_NOT_TEXT = 0.01


def _utf16_without_mark(head: bytes) -> str | None:
    """The UTF-16 the head of a file is written in when it has no mark, else None.

    Every character below U+0100 has a NUL high byte: at odd offsets in little-endian
    text, at even ones in big-endian. Whether the bytes then read as text tells UTF-16
    from binary data that happens to have NULs mostly on one side.
    """
    pairs = head[: len(head) // 2 * 2]
    odd, even = pairs[1::2].count(0), pairs[0::2].count(0)
    many, few = max(odd, even), min(odd, even)
    if len(pairs) < 4 or many < len(pairs) // 2 * _MIN_NUL_SHARE or few > many * _MAX_OTHER_SIDE:
        return None
    name = "utf-16-le" if odd > even else "utf-16-be"
    return name if _reads_as_text(pairs, name) else None


def _reads_as_text(data: bytes, encoding: str) -> bool:
    # Not final: the head may end between the two halves of a surrogate pair.
    try:
        text = codecs.getincrementaldecoder(encoding)(errors="strict").decode(data)
    except UnicodeDecodeError:
        return False
    odd = sum(1 for ch in text if ch not in "\t\r\n" and unicodedata.category(ch) in _NOT_TEXT)
    return odd <= len(text) * _MAX_NOT_TEXT


def _is_wide(encoding: str) -> bool:
    """Whether NUL bytes are part of ordinary text in this encoding (UTF-16, UTF-32)."""
    return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))


def _scan(path: Path, encoding: str) -> tuple[int, str]:
    """Decode the whole file once: refuse binary data and undecodable bytes early."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    wide = _is_wide(encoding)
    lines = 0
    sample = ""
    last = ""
    offset = 0
    with path.open("rb") as raw:
        while chunk := raw.read(_CHUNK):
            if not wide and b"\x00" in chunk:
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
            if wide and "\x00" in text:
                raise ImportFileError(f"{path}: contains NUL characters: this is not a CSV file")
            lines += text.count("\n")
            offset += len(chunk)
            last = text[-1:] or last
            if len(sample) < 65536:
                sample += text[: 65536 - len(sample)]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{path}: ends in the middle of a character: {exc}") from exc
    if last and last != "\n":
        lines += 1
    return lines, sample.lstrip("\ufeff")


def _check_quotes(path: Path, encoding: str, delimiter: str, width: int) -> None:
    """Refuse a file in which a quote opens a field and is not closed where it should be.

    Such a quote reads every line after it, up to the next quote or the end of the file,
    as part of one field: those rows would vanish. A quoted field may hold line breaks,
    so a record over several lines is refused only when it then breaks or does not have
    the header's number of fields.
    """
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        line = 0
        while True:
            start = line + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line = reader.line_num
                # the quote is still open at the end: the csv module says so only in its
                # text ("unexpected end of data"), with no code or subclass to tell it by
                at_end = "end of data" in str(exc)
                if line > start or at_end:
                    raise _unclosed_quote(path, start, line, at_end=at_end) from exc
                continue  # a broken single line: that row is rejected, the rest is read
            line = reader.line_num
            if line > start and len(values) != width:
                raise _unclosed_quote(path, start, line, at_end=False)


def _unclosed_quote(path: Path, start: int, end: int, *, at_end: bool) -> ImportFileError:
    until = "the end of the file" if at_end else f"line {end}"
    return ImportFileError(
        f"{path}: line {start}: a quote opens a field there that is not closed before "
        f"{until}, so the rows after it would be read as one field: close the quote (a "
        'quote inside a quoted field is written twice: "") and import again; nothing was '
        "imported"
    )


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
