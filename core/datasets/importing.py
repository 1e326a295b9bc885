"""Dataset import: JSON (a list of cases), JSONL and CSV, plus inspect-ai / OpenAI-evals samples.

Import streams records one at a time, validates each as an EvalCase, and inserts them in chunks
inside ONE write transaction together with the "import" version (its blobs hashed and written in
the same pass as the case rows), so a bad record anywhere rolls everything back and the error
names the file and the line (and column for JSON) where that record starts.

Field rules: `id` is optional (derived from the input when absent; integer ids keep their text);
`expected_output` absent/null means unlabeled; unknown keys (JSON) and unmapped columns (CSV) go
to `metadata`. In CSV an empty cell is an absent field, a cell holding a JSON object is an object
expected output, `tags` is a JSON list or comma-separated, `metadata` a JSON object.
CSV round trip caveat: a *string* expected output that is itself JSON-object text comes back as
an object, and an empty string comes back as unlabeled.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import sqlite_utils
from pydantic import ValidationError

from core.common.hashing import case_id_for
from core.datasets import formats, read_ahead
from core.datasets.browse import dataset_id
from core.datasets.formats import EXTENSIONS, FIELDS, FILE_FORMATS, IMPORT_FORMATS, SAMPLE_FLAVOURS
from core.datasets.versions import Encoded, VersionBuilder, encode
from core.errors import InputError, UsageError
from core.records import EvalCase, describe_validation_error
from store import datasets as store_ds
from store.db import page_cache, write

IMPORT_CACHE_MIB = 16  # SQLite's page cache during an import (store.db.page_cache says why)

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


# --- names and options ------------------------------------------------------------------------


def parse_pairs(text: str | None, allowed: tuple[str, ...], option: str) -> dict[str, str]:
    """'a=x,b=y' -> {'a': 'x', 'b': 'y'}; keys must be in `allowed`, values distinct."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not key or not value:
            raise UsageError(f"{option}: expected FIELD=NAME pairs separated by commas, got {part.strip()!r}")
        if key not in allowed:
            raise UsageError(f"{option}: unknown field {key!r}; fields are {', '.join(allowed)}")
        if key in out:
            raise UsageError(f"{option}: field {key!r} is mapped twice")
        if value in out.values():
            raise UsageError(f"{option}: {value!r} is mapped to two fields")
        out[key] = value
    return out


def source_names(mapping: dict[str, str], fields: tuple[str, ...]) -> dict[str, str]:
    """source key in the file -> our field. A default name already used by a mapping stays unmapped."""
    sources = {src: field for field, src in mapping.items()}
    for field in fields:
        if field not in mapping and field not in sources:
            sources[field] = field
    return sources


def split_record(data: dict[str, Any], sources: dict[str, str], *, csv: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(our fields, unmapped keys) of one record, through `sources`; in CSV an empty cell is an absent field."""
    mapped: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if csv and value == "":
            continue
        field = sources.get(key)
        if field is None:
            extra[key] = value
        else:
            mapped[field] = value
    return mapped, extra


def check_name(name: str) -> str:
    if not name or not name.strip():
        raise UsageError("the dataset name must not be empty")
    if len(name) > 200 or any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in name):
        raise UsageError("the dataset name must be at most 200 printable characters")
    return name


def _format_for(path: Path, fmt: str | None) -> tuple[str, str | None]:
    """(container format, sample flavour or None) from --format and the file extension."""
    by_ext = EXTENSIONS.get(path.suffix.lower())
    if fmt in FILE_FORMATS:
        return fmt, None
    if fmt in SAMPLE_FLAVOURS:
        if by_ext == "csv":
            raise UsageError(f"--format {fmt} reads JSON or JSONL samples, not CSV")
        return by_ext or "jsonl", fmt
    if fmt is not None:
        raise UsageError(f"unknown format {fmt!r}; formats are {', '.join(IMPORT_FORMATS)}")
    if by_ext is None:
        raise UsageError(f"cannot tell the format of {path.name!r} from its extension; pass --format "
                         f"{'|'.join(IMPORT_FORMATS)}")
    return by_ext, None


def open_input(path: Path, display: str) -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise InputError(display, None, "no such file") from None
    except IsADirectoryError:
        raise InputError(display, None, "is a directory, not a file") from None
    except OSError as e:
        raise InputError(display, None, f"cannot read the file: {e.strerror}") from None


# --- records to cases -------------------------------------------------------------------------


def csv_bool(text: str, field: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"field '{field}': expected true or false (got {text!r})")


def _csv_value(field: str, text: str) -> Any:
    if field == "expected_output":
        return formats.object_cell(text)
    if field == "metadata":
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if not isinstance(value, dict):
            raise ValueError(f"field 'metadata': must be a JSON object (got {text[:60]!r})")
        return value
    if field == "tags":
        if text.lstrip().startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(f"field 'tags': not a valid JSON list (got {text[:60]!r})") from None
        return [t.strip() for t in text.split(",") if t.strip()]
    if field == "excluded":
        return csv_bool(text, field)
    return text


def _from_csv(cells: dict[str, str], sources: dict[str, str]) -> dict[str, Any]:
    fields, extra = split_record(cells, sources, csv=True)
    return _merge_extra({field: _csv_value(field, text) for field, text in fields.items()}, extra)


def _from_json(data: Any, sources: dict[str, str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object (a case), got a {formats.type_name(data)}")
    fields, extra = split_record(data, sources, csv=False)
    if "input_text" not in fields:
        src = next(s for s, f in sources.items() if f == "input_text")
        mapped = "" if src == "input_text" else " (mapped to input_text)"
        keys = ", ".join(map(repr, list(data)[:8])) or "none"
        raise ValueError(f"missing required field {src!r}{mapped}; the record has keys {keys} "
                         f"(use --map input_text=KEY)")
    return _merge_extra(fields, extra)


def _merge_extra(fields: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    if extra:
        meta = fields.get("metadata")
        if meta is None:
            fields["metadata"] = extra
        elif isinstance(meta, dict):
            fields["metadata"] = {**extra, **meta}
        # A non-object metadata is left as is for validation to reject.
    return fields


def to_case(fields: dict[str, Any], default_task_type: str | None) -> dict[str, Any]:
    """Validate one record's fields as an EvalCase; returns the stored dict shape. Raises ValueError."""
    fields = {k: v for k, v in fields.items() if v is not None or k in ("expected_output", "input_text")}
    case_id = fields.get("id")
    if case_id is None:
        text = fields.get("input_text")
        # With no usable input the input_text error is the one worth reporting, not a missing id.
        fields["id"] = case_id_for(text) if isinstance(text, str) else "-"
    elif isinstance(case_id, int) and not isinstance(case_id, bool):
        fields["id"] = str(case_id)
    if "task_type" not in fields and default_task_type:
        fields["task_type"] = default_task_type
    if isinstance(fields.get("difficulty"), str):
        fields["difficulty"] = fields["difficulty"].strip().lower()
    try:
        # The validated field values are the stored shape (EvalCase.model_dump()) without model_dump's
        # recursive copy, which cost more than half of the validation itself.
        return vars(EvalCase.model_validate(fields))
    except ValidationError as e:
        raise ValueError(describe_validation_error(e)) from None


def _raw_records(f: BinaryIO, display: str, container: str, sources: dict[str, str],
                 decode: Callable[[int], bool] | None) -> Iterator[formats.RawRecord]:
    if container == "json":
        return formats.read_json_array(f, display)
    if container == "jsonl":
        return formats.read_jsonl(f, display, decode)
    table = formats.open_csv(f, display)
    input_col = next(src for src, field in sources.items() if field == "input_text")
    if input_col not in table.header:
        mapped = "" if input_col == "input_text" else " (mapped to input_text)"
        raise InputError(display, 1, f"no {input_col!r} column{mapped}; the header has: {', '.join(table.header)} "
                                     f"(use --map input_text=COLUMN)")
    return table.rows


def iter_cases_from(
    f: BinaryIO, display: str, container: str, flavour: str | None, sources: dict[str, str],
    default_task_type: str | None, *, detect: bool, decode: Callable[[int], bool] | None = None,
) -> tuple[str | None, Iterator[tuple[int, int | None, dict[str, Any] | None]]]:
    """(flavour, validated (line, column, case) records). With `detect`, a first record shaped like an
    inspect-ai or OpenAI-evals sample switches the whole file to that flavour. `decode` (JSONL only,
    see `formats.read_jsonl`): the records it leaves out come as (line, column, None), unvalidated."""
    records = _raw_records(f, display, container, sources, decode)
    if detect and flavour is None and container != "csv":
        first = next(records, None)
        if first is not None:
            flavour = formats.detect_flavour(first.data)
            records = itertools.chain([first], records)

    def convert() -> Iterator[tuple[int, int | None, dict[str, Any] | None]]:
        for rec in records:
            if rec.data is formats.SKIPPED:
                yield rec.line, rec.column, None
                continue
            try:
                if flavour is not None:
                    fields = formats.sample_to_fields(rec.data, flavour)
                elif container == "csv":
                    fields = _from_csv(rec.data, sources)
                else:
                    fields = _from_json(rec.data, sources)
                case = to_case(fields, default_task_type)
            except ValueError as e:
                raise InputError(display, rec.line, str(e), column=rec.column) from None
            yield rec.line, rec.column, case

    return flavour, convert()


# --- writing cases ----------------------------------------------------------------------------

# A validated case ready to write: (line, column, its column values, its version blob and digest).
Prepared = tuple[int, int | None, store_ds.CaseColumns, Encoded]


def prepare(line: int, column: int | None, case: dict[str, Any]) -> Prepared:
    """Everything the writer encodes for a case, done where the case was validated (for a big file,
    in the reading processes)."""
    return line, column, store_ds.case_columns(case), encode(case)


class _CaseWriter:
    """Inserts validated cases in chunks, each also into the version being built, so the version's
    blobs come from the same pass as the case rows; refuses a duplicate id naming both lines.

    Memory stays flat: one line number per case (8 bytes) plus the pending chunk (and the version
    builder's id and digest per case). Earlier chunks are checked in SQLite through the UNIQUE
    (dataset_id, case_id) index.
    """

    def __init__(self, db: sqlite_utils.Database, ds_id: int, ds_name: str, display: str, start_ord: int,
                 version: VersionBuilder):
        self.db, self.ds_id, self.ds_name, self.display, self.start_ord = db, ds_id, ds_name, display, start_ord
        self.version = version
        self.lines = array("q")
        self.pending: list[Prepared] = []
        self.pending_ids: dict[str, int] = {}
        self.written = 0
        self.labeled = 0

    def add(self, case: Prepared) -> None:
        line, column, columns, _ = case
        cid = columns[0]
        first = self.pending_ids.get(cid)
        if first is not None:
            raise InputError(self.display, line, self._duplicate(columns, first), column=column)
        self.pending_ids[cid] = line
        self.pending.append(case)
        self.lines.append(line)
        if columns[2] is not None:  # expected_json
            self.labeled += 1
        if len(self.pending) >= store_ds.CHUNK:
            self.flush()

    @staticmethod
    def _duplicate(columns: store_ds.CaseColumns, first: int) -> str:
        cid, input_text = columns[:2]
        derived = cid == case_id_for(input_text)
        why = "; the id comes from input_text, so both cases have the same input" if derived else ""
        return f"duplicate case id {cid!r} (first seen on line {first}{why})"

    def check(self) -> None:
        """Raise for the earliest pending case whose id is already stored."""
        if not self.pending_ids:
            return
        stored = store_ds.stored_ords(self.db, self.ds_id, self.pending_ids)
        for line, column, columns, _ in self.pending:
            ord_ = stored.get(columns[0])
            if ord_ is None:
                continue
            if ord_ >= self.start_ord:
                problem = self._duplicate(columns, self.lines[ord_ - self.start_ord])
            else:
                problem = f"case id {columns[0]!r} is already in dataset {self.ds_name!r}"
            raise InputError(self.display, line, problem, column=column)

    def flush(self) -> None:
        self.check()
        store_ds.insert_case_rows(self.db, self.ds_id, (c for _, _, c, _ in self.pending), self.start_ord + self.written)
        for _, _, columns, encoded in self.pending:
            self.version.add_encoded(columns[0], columns[2] is not None, encoded)
        self.written += len(self.pending)
        self.pending.clear()
        self.pending_ids.clear()


@dataclass(frozen=True)
class ImportResult:
    dataset: str
    dataset_id: int
    format: str
    imported: int
    labeled: int
    version: int
    appended: bool

    @property
    def unlabeled(self) -> int:
        return self.imported - self.labeled


def import_file(
    db: sqlite_utils.Database, path: str | Path, name: str, *, fmt: str | None = None,
    mapping: dict[str, str] | None = None, task_type: str | None = None, append: bool = False,
    description: str = "", fork_ok: bool = False,
) -> ImportResult:
    """Import a file into a new dataset (or append to one), all or nothing, and take a version.
    `fork_ok`: the caller runs no thread, so a big JSONL file may be read and validated in forked
    reader processes while this one writes (`core.datasets.read_ahead`)."""
    display = str(path)
    path = Path(path)
    check_name(name)
    container, flavour = _format_for(path, fmt)
    mapping = mapping or {}
    if mapping and flavour:
        raise UsageError(f"--map does not apply to --format {flavour}")
    if mapping and "input_text" not in mapping and "input_text" in mapping.values():
        raise UsageError("--map: 'input_text' is mapped away but no column is mapped to input_text")
    sources = source_names(mapping, FIELDS)
    # Forked before the write transaction begins (see core.datasets.read_ahead).
    ahead = (read_ahead.ReadAhead(path, display, container, flavour, sources, task_type, detect=not mapping)
             if read_ahead.usable(path, container, fork_ok) else None)
    with contextlib.ExitStack() as stack:
        if ahead is not None:
            stack.callback(ahead.close)
        f = stack.enter_context(open_input(path, display))
        stack.enter_context(page_cache(db, IMPORT_CACHE_MIB))
        stack.enter_context(write(db))
        if append:
            ds_id = dataset_id(db, name)
        else:
            try:
                ds_id = store_ds.create_dataset(db, name, description)
            except store_ds.DatasetExists:
                raise UsageError(f"dataset {name!r} already exists (use --append to add cases to it)") from None
        version = VersionBuilder(db, ds_id)
        if append:
            version.add_stored()  # the version covers the cases already there, first
        writer = _CaseWriter(db, ds_id, name, display, store_ds.next_ord(db, ds_id), version)
        if ahead is not None:
            flavour = ahead.flavour
            cases: Iterator[Prepared] = iter(ahead)
        else:
            flavour, validated = iter_cases_from(f, display, container, flavour, sources, task_type, detect=not mapping)
            cases = (prepare(*record) for record in validated)
        try:
            for case in cases:
                writer.add(case)
        except InputError:
            writer.check()  # a duplicate earlier in the unflushed chunk is the first problem
            raise
        writer.flush()
        taken, _ = version.finish("import")
    return ImportResult(
        dataset=name, dataset_id=ds_id, format=container + (f" ({flavour})" if flavour else ""),
        imported=writer.written, labeled=writer.labeled, version=taken["version"], appended=append,
    )
