"""Column mappings: import a customer's own export without editing it.

A mapping file is YAML, one entry per field of the import kind. An entry is either the
name of the source column, or a spec:

    customer_id: "Customer ID"                        # rename
    phone: "Phone Number"
    churned: {column: Churn, true: ["Yes"]}           # derive a yes/no field
    call_consent: {column: DNC, true: ["N"], false: ["Y"]}
    segment: {column: Tier, map: {Gold: B2C_PREMIUM, Silver: B2C_FAMILY}}
    customer_type: {value: B2C}                       # the same for every row
    name: {columns: [First, Last], join: " "}         # several columns into one
    signup_date: {column: Joined, format: "%d/%m/%Y"} # dates written another way
    region: {column: State, default: "unknown"}       # used when the cell is blank

Fields the mapping does not name are read from the column of the same name, if any.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from store.errors import MappingError

_SPEC_KEYS = {"column", "columns", "join", "value", "true", "false", "map", "default", "format"}


@dataclass(frozen=True)
class FieldSpec:
    """How one target field is read from a source row."""

    name: str
    columns: tuple[str, ...] = ()
    join: str = " "
    value: str | None = None
    true: frozenset[str] = frozenset()
    false: frozenset[str] = frozenset()
    translate: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None
    date_format: str | None = None

    @property
    def is_rename(self) -> bool:
        return (
            len(self.columns) == 1
            and self.value is None
            and not (self.true or self.false or self.translate or self.date_format)
        )

    def read(self, row: Mapping[str, str]) -> str | None:
        """The field's text for this row, or None when blank; raises ValueError."""
        if self.value is not None:
            text = self.value
        else:
            parts = [row.get(c, "").strip() for c in self.columns]
            text = self.join.join(p for p in parts if p)
        if not text:
            return self.default
        if self.true or self.false:
            folded = text.lower()
            if folded in self.true:
                return "true"
            if folded in self.false or not self.false:
                return "false"
            allowed = sorted(self.true | self.false)
            raise ValueError(f"expected one of {allowed}")
        if self.translate:
            text = self.translate.get(text, text)
        if self.date_format:
            text = dt.datetime.strptime(text, self.date_format).isoformat()
            if "%H" not in self.date_format:
                text = text[:10]
        return text


@dataclass(frozen=True)
class ColumnMapping:
    specs: tuple[FieldSpec, ...]

    @property
    def source_columns(self) -> set[str]:
        return {c for s in self.specs for c in s.columns}

    def reader(self) -> Callable[[Mapping[str, str]], tuple[dict[str, str | None], dict[str, str]]]:
        """A function turning a source row into (field texts, field errors)."""
        # Plain renames are most of any mapping; read them without the general path.
        plain = [(s.name, s.columns[0], s.default) for s in self.specs if s.is_rename]
        derived = [s for s in self.specs if not s.is_rename]

        def read(row: Mapping[str, str]) -> tuple[dict[str, str | None], dict[str, str]]:
            out: dict[str, str | None] = {n: row[c].strip() or d for n, c, d in plain}
            errors: dict[str, str] = {}
            for spec in derived:
                try:
                    out[spec.name] = spec.read(row)
                except ValueError as exc:
                    errors[spec.name] = str(exc)
            return out, errors

        return read


def build_mapping(
    fields: Collection[str], header: Collection[str], entries: Mapping[str, Any] | None = None
) -> ColumnMapping:
    """Combine the mapping file's entries with same-named columns of the header."""
    entries = dict(entries or {})
    unknown = sorted(set(entries) - set(fields))
    if unknown:
        raise MappingError(
            f"the mapping names field(s) {', '.join(unknown)} that this import does not have; "
            f"known fields: {', '.join(sorted(fields))}"
        )
    specs = []
    for name in fields:
        if name in entries:
            specs.append(_spec(name, entries[name]))
        elif name in header:
            specs.append(FieldSpec(name, columns=(name,)))
    mapping = ColumnMapping(tuple(specs))
    missing = sorted(mapping.source_columns - set(header))
    if missing:
        raise MappingError(
            f"the mapping reads column(s) {', '.join(repr(m) for m in missing)} that the file "
            f"does not have; its columns are: {', '.join(header)}"
        )
    return mapping


def load_mapping_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MappingError(f"mapping file {path}: no such file") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MappingError(f"mapping file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MappingError(f"mapping file {path}: expected 'field: column' lines at the top level")
    return {str(k): v for k, v in data.items()}


def _spec(name: str, entry: Any) -> FieldSpec:
    if isinstance(entry, str):
        return FieldSpec(name, columns=(entry,))
    if not isinstance(entry, dict):
        raise MappingError(f"mapping for {name!r}: give a column name or a {{column: ...}} spec")
    # YAML 1.1 reads the keys true/false themselves as booleans.
    entry = {str(k).lower() if isinstance(k, bool) else str(k): v for k, v in entry.items()}
    bad = sorted(set(entry) - _SPEC_KEYS)
    if bad:
        raise MappingError(
            f"mapping for {name!r}: unknown key(s) {', '.join(bad)}; "
            f"allowed: {', '.join(sorted(_SPEC_KEYS))}"
        )
    sources = [k for k in ("column", "columns", "value") if k in entry]
    if len(sources) != 1:
        raise MappingError(f"mapping for {name!r}: give exactly one of column, columns or value")
    columns: tuple[str, ...] = ()
    if "column" in entry:
        columns = (str(entry["column"]),)
    elif "columns" in entry:
        if not isinstance(entry["columns"], list) or not entry["columns"]:
            raise MappingError(f"mapping for {name!r}: columns must be a non-empty list")
        columns = tuple(str(c) for c in entry["columns"])
    translate = entry.get("map", {})
    if not isinstance(translate, dict):
        raise MappingError(f"mapping for {name!r}: map must be 'from: to' pairs")
    date_format = entry.get("format")
    if date_format is not None:
        try:
            dt.datetime(2000, 1, 2, 3, 4, 5).strftime(str(date_format))
        except ValueError as exc:
            raise MappingError(f"mapping for {name!r}: bad date format {date_format!r}") from exc
    return FieldSpec(
        name,
        columns=columns,
        join=str(entry.get("join", " ")),
        value=None if "value" not in entry else str(entry["value"]),
        true=frozenset(_texts(name, entry.get("true", []))),
        false=frozenset(_texts(name, entry.get("false", []))),
        translate={str(k): str(v) for k, v in translate.items()},
        default=None if entry.get("default") is None else str(entry["default"]),
        date_format=None if date_format is None else str(date_format),
    )


def _texts(name: str, values: Any) -> list[str]:
    if isinstance(values, str | int | bool):
        values = [values]
    if not isinstance(values, list):
        raise MappingError(f"mapping for {name!r}: true/false must list the cell values")
    # YAML reads an unquoted Yes/No/True as a boolean; cells are text, compared folded.
    texts: list[str] = []
    for v in values:
        if isinstance(v, bool):
            texts.extend(["yes", "true", "y"] if v else ["no", "false", "n"])
        else:
            texts.append(str(v).lower())
    return texts
