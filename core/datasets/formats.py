"""Streaming readers for record files (JSON arrays, JSONL, CSV) and the inspect-ai / OpenAI-evals shapes.

Every reader yields one record at a time with the 1-based line (and, for JSON, column) where the
record starts, so a 100k-record file is never held in memory and every problem is reported as
`InputError(file, line, problem, column=...)`. Bytes are decoded as UTF-8 (a leading BOM is
dropped); an undecodable byte or a NUL is reported by line and column, never by byte offset.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from core.common.conversation import PRODUCTION_OUTPUT, message_text
from core.errors import InputError

# Format names live here (not in core.datasets.importing) so the CLI can offer them without importing pydantic.
FILE_FORMATS = ("json", "jsonl", "csv")
SAMPLE_FLAVOURS = ("inspect", "openai-evals", "chat", "prompt-completion")
IMPORT_FORMATS = FILE_FORMATS + SAMPLE_FLAVOURS
LOG_FORMATS = ("jsonl", "json", "csv")
EXTENSIONS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv"}
# The case fields a record file holds (import and export), and the CSV column order on export.
FIELDS = ("id", "input_text", "expected_output", "task_type", "difficulty", "metadata", "tags", "excluded")
CSV_COLUMNS = ("id", "input_text", "expected_output", "task_type", "difficulty", "tags", "metadata", "excluded")

BOM = b"\xef\xbb\xbf"
CHUNK_SIZE = 1 << 16
# A quoted CSV field longer than this is almost surely an unbalanced quote swallowing the file.
CSV_FIELD_LIMIT = 16 << 20
# The data of a record left undecoded (see read_jsonl's `decode`).
SKIPPED: Any = object()


@dataclass(frozen=True, slots=True)
class RawRecord:
    line: int
    column: int | None
    data: Any


def type_name(value: Any) -> str:
    """JSON's name for a Python value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object" if isinstance(value, dict) else type(value).__name__


def _utf8_problem(raw: bytes, at: int) -> str:
    return f"not valid UTF-8 (byte 0x{raw[at]:02x}); save the file as UTF-8"


# No text format allows a raw NUL (JSON escapes it as \u0000; CSV has no way to write it), and
# csv/json would otherwise pass it through into a case: it means a binary or corrupted file.
NUL_PROBLEM = "contains a NUL byte (0x00): this is a binary or corrupted file, not text"


def decode_line(raw: bytes, display: str, line: int) -> str:
    """One physical line as text; a BOM on line 1 is dropped. A bad byte or a NUL is an InputError."""
    if line == 1 and raw.startswith(BOM):
        raw = raw[len(BOM):]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        col = len(raw[: e.start].decode("utf-8")) + 1
        raise InputError(display, line, _utf8_problem(raw, e.start), column=col) from None
    nul = text.find("\0")
    if nul >= 0:
        raise InputError(display, line, NUL_PROBLEM, column=nul + 1)
    return text


def text_lines(f: BinaryIO, display: str) -> Iterator[tuple[int, str]]:
    """(line number, text with its line ending) for each physical line."""
    for line, raw in enumerate(f, 1):
        yield line, decode_line(raw, display, line)


class _Utf8Chunks:
    """Decodes a byte stream in chunks. A bad byte is raised only once the text before it is used up,
    so a record error earlier in the same chunk is still reported first."""

    def __init__(self, f: BinaryIO, display: str, size: int):
        self._f, self._display, self._size = f, display, size
        self._pending = b""
        self._first = True
        self._lines = 0  # newlines in the text handed out so far
        self._col = 0  # characters after the last handed-out newline
        self._error: InputError | None = None

    def read(self) -> str:
        """The next piece of text; "" at the end of the file."""
        while True:
            if self._error is not None:
                raise self._error
            # The first read is long enough to hold a whole BOM.
            raw = self._f.read(max(self._size, len(BOM)) if self._first else self._size)
            data = self._pending + raw
            self._pending = b""
            if self._first:
                self._first = False
                if data.startswith(BOM):
                    data = data[len(BOM):]
            if not data:
                if not raw:
                    return ""
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                text = data[: e.start].decode("utf-8")
                if raw and e.end == len(data):
                    self._pending = data[e.start:]  # a character split across two reads
                else:
                    self._error = self._error_after(text, _utf8_problem(data, e.start))
            nul = text.find("\0")
            if nul >= 0:
                text = text[:nul]
                self._error = self._error_after(text, NUL_PROBLEM)
            self._advance(text)
            if text:
                return text

    def _advance(self, text: str) -> None:
        nl = text.count("\n")
        self._lines += nl
        self._col = len(text) - text.rfind("\n") - 1 if nl else self._col + len(text)

    def _error_after(self, text: str, problem: str) -> InputError:
        """The error for the character right after `text` (the text of this read before it)."""
        nl = text.count("\n")
        col = (len(text) - text.rfind("\n") if nl else self._col + len(text) + 1)
        return InputError(self._display, self._lines + nl + 1, problem, column=col)


def _json_problem(e: json.JSONDecodeError) -> str:
    # The decoder ends some messages with " at" because it appends the position itself.
    msg = e.msg.removesuffix(" at")
    if msg == "Invalid control character":
        msg += " in a string (a raw line break or tab must be written as \\n or \\t)"
    return f"invalid JSON: {msg}"


_WS = re.compile(r"[ \t\n\r]*")
# A syntax error this close to the end of the text read so far may only mean "read more".
_TRUNCATION_MARGIN = 16


class _JsonArrayReader:
    """Walks a top-level JSON array, decoding one element at a time with raw_decode.

    Only the unconsumed tail of the file is buffered. When an element runs past the buffer the
    buffer grows geometrically, so a large element is re-scanned O(log n) times, not once per line.
    """

    def __init__(self, f: BinaryIO, display: str, chunk_size: int):
        self._src = _Utf8Chunks(f, display, chunk_size)
        self._display = display
        self._decoder = json.JSONDecoder()
        self._buf = ""
        self._pos = 0
        self._line = 1  # line of _buf[_pos]
        self._line_start = 0  # index in _buf where that line starts (negative once compacted away)
        self._eof = False
        self._compact_at = max(chunk_size, 1024)

    # -- positions -------------------------------------------------------------------------
    def _where(self, p: int) -> tuple[int, int]:
        nl = self._buf.count("\n", self._pos, p)
        if nl:
            return self._line + nl, p - self._buf.rfind("\n", self._pos, p)
        return self._line, p - self._line_start + 1

    def _advance(self, p: int) -> None:
        nl = self._buf.count("\n", self._pos, p)
        if nl:
            self._line += nl
            self._line_start = self._buf.rfind("\n", self._pos, p) + 1
        self._pos = p

    def _error(self, p: int, problem: str) -> InputError:
        line, col = self._where(p)
        return InputError(self._display, line, problem, column=col)

    # -- buffer ----------------------------------------------------------------------------
    def _more(self, at_least: int = 1) -> bool:
        """Append text until `at_least` more characters are buffered. False once at the end."""
        if self._pos > self._compact_at and self._pos * 2 > len(self._buf):
            self._buf = self._buf[self._pos:]
            self._line_start -= self._pos
            self._pos = 0
        target = len(self._buf) + max(1, at_least)
        grew = False
        while len(self._buf) < target and not self._eof:
            text = self._src.read()
            if not text:
                self._eof = True
            self._buf += text
            grew = grew or bool(text)
        return grew

    def _peek(self) -> str:
        """Skip whitespace; the next character, or "" at the end of the file."""
        while True:
            p = _WS.match(self._buf, self._pos).end()
            self._advance(p)
            if p < len(self._buf):
                return self._buf[p]
            if not self._more():
                return ""

    def _value(self) -> Any:
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as e:
                maybe_truncated = e.pos >= len(self._buf) - _TRUNCATION_MARGIN or e.msg.startswith("Unterminated")
                if maybe_truncated and not self._eof:
                    self._more(len(self._buf) - self._pos)
                    continue
                raise self._error(e.pos, _json_problem(e)) from None
            if end >= len(self._buf) and not self._eof:
                # A number at the very end might continue in the next chunk.
                self._more(len(self._buf) - self._pos)
                continue
            self._advance(end)
            return value

    # -- the array -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[RawRecord]:
        c = self._peek()
        if c == "":
            raise self._error(self._pos, "the file is empty: nothing to import")
        if c == "{":
            raise self._error(self._pos, "the top level is a JSON object; expected a list of case objects ([{...}, ...]); "
                                         "for one object per line use JSONL (--format jsonl)")
        if c != "[":
            raise self._error(self._pos, f"expected a list of case objects ([{{...}}, ...]) at the top level, found {c!r}")
        open_at = self._where(self._pos)
        self._advance(self._pos + 1)
        if self._peek() == "]":
            raise InputError(self._display, open_at[0], "the list is empty: nothing to import", column=open_at[1])
        while True:
            if self._peek() == "":
                raise self._error(self._pos, "unexpected end of file: the list is not closed with ']'")
            line, col = self._where(self._pos)
            yield RawRecord(line, col, self._value())
            c = self._peek()
            if c == ",":
                self._advance(self._pos + 1)
                if self._peek() == "]":
                    raise self._error(self._pos, "trailing comma before ']'")
            elif c == "]":
                self._advance(self._pos + 1)
                break
            elif c == "":
                raise self._error(self._pos, "unexpected end of file: the list is not closed with ']'")
            else:
                raise self._error(self._pos, f"expected ',' or ']' after the case that starts on line {line}, found {c!r}")
        if self._peek() != "":
            raise self._error(self._pos, "unexpected data after the closing ']'")


def read_json_array(f: BinaryIO, display: str, *, chunk_size: int = CHUNK_SIZE) -> Iterator[RawRecord]:
    """Elements of a top-level JSON array, streamed; `column` is where each element starts."""
    return iter(_JsonArrayReader(f, display, chunk_size))


def read_jsonl(f: BinaryIO, display: str, decode: Callable[[int], bool] | None = None) -> Iterator[RawRecord]:
    """One JSON value per non-blank line. With `decode`, a record for whose 0-based number it is false
    is not parsed: its data is SKIPPED (a process that reads only its share of the file)."""
    n = 0
    for line, text in text_lines(f, display):
        if not text.strip():
            continue
        if decode is not None and not decode(n):
            n += 1
            yield RawRecord(line, None, SKIPPED)
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(display, line, _json_problem(e), column=e.colno) from None
        n += 1
        yield RawRecord(line, None, value)
    if n == 0:
        raise InputError(display, 1, "the file has no records: nothing to import")


@dataclass
class CsvFile:
    """A CSV file's header and its rows as {column: cell} dicts, streamed."""

    header: list[str]
    rows: Iterator[RawRecord]


def _csv_problem(exc: csv.Error, start: int, end: int) -> str:
    msg = str(exc)
    if "unexpected end of data" in msg:
        return "unbalanced quote: a quoted field that starts in this record is never closed"
    if "field larger than field limit" in msg:
        return f"a quoted field runs past {CSV_FIELD_LIMIT >> 20} MB: check for an unbalanced quote"
    where = f" (detected on line {end})" if end != start else ""
    hint = "; check for an unbalanced or stray quote" if '"' in msg else ""
    return f"malformed CSV: {msg}{where}{hint}"


def _delimiter(header_line: str) -> str:
    """Comma, unless the header has none and is separated by tabs or semicolons (spreadsheets
    saved in a locale whose decimal mark is a comma write ';')."""
    if "," in header_line:
        return ","
    return next((d for d in ("\t", ";") if d in header_line), ",")


def open_csv(f: BinaryIO, display: str) -> CsvFile:
    """Read the header now; rows follow lazily. strict=True so a stray quote raises instead of merging rows."""
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    lines = (text for _, text in text_lines(f, display))
    first = next(lines, None)
    delimiter = _delimiter(first or "")
    reader = csv.reader(itertools.chain([first] if first is not None else [], lines), strict=True,
                        delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise InputError(display, 1, _csv_problem(e, 1, reader.line_num)) from None
    if header is None:
        raise InputError(display, 1, "the file is empty: nothing to import")
    header = [h.strip() for h in header]
    seen: set[str] = set()
    for i, name in enumerate(header):
        if not name:
            header[i] = name = f"column_{i + 1}"
        if name in seen:
            raise InputError(display, 1, f"duplicate column {name!r} in the header")
        seen.add(name)
    return CsvFile(header, _csv_rows(reader, header, display))


def _csv_rows(reader: Any, header: list[str], display: str) -> Iterator[RawRecord]:
    n = 0
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader, None)
        except csv.Error as e:
            raise InputError(display, start, _csv_problem(e, start, reader.line_num)) from None
        if row is None:
            break
        if not row or (len(row) == 1 and len(header) > 1 and not row[0].strip()):
            continue  # a blank (or whitespace-only) line
        if len(row) != len(header):
            end = reader.line_num
            spans = f" (the record runs to line {end}; check for an unbalanced quote)" if end != start else ""
            raise InputError(display, start, f"row has {len(row)} fields but the header has {len(header)}{spans}")
        n += 1
        yield RawRecord(start, None, dict(zip(header, row)))
    if n == 0:
        raise InputError(display, 1, "only a header row: nothing to import")


def object_cell(text: str) -> str | dict[str, Any]:
    """A CSV cell holding a JSON object becomes the object; any other text stays a string."""
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return text
        if isinstance(value, dict):
            return value
    return text


# --- inspect-ai and OpenAI evals samples ------------------------------------------------------


def detect_flavour(data: Any) -> str | None:
    """'inspect' for {input, target}, 'openai-evals' for {input, ideal}, 'chat' for {messages} (the
    OpenAI chat and fine-tuning format), 'prompt-completion' for {prompt, completion} (OpenAI's
    legacy fine-tuning format and TRL's, standard or conversational), else None (our own fields)."""
    if not isinstance(data, dict) or "input_text" in data:
        return None
    if "input" not in data:
        if isinstance(data.get("messages"), list):
            return "chat"
        return "prompt-completion" if "prompt" in data and "completion" in data else None
    if "target" in data:
        return "inspect"
    if "ideal" in data:
        return "openai-evals"
    return None


def lift_paths(data: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """`data` with each dotted path (`request.messages`, `response.choices.0.message.content`) that
    is not a key of its own lifted to a top-level key of that name and removed from where it was
    (a list keeps its length), so what was not mapped stays as it was and what was mapped is not
    shown twice (production's answer, say, which blind labeling hides)."""
    out = data
    for path in paths:
        if path in data:
            continue
        parts = path.split(".")
        found, value = dig(data, parts)
        if found:
            out = {**_without(out, parts), path: value}
    return out


def dig(obj: Any, parts: list[str]) -> tuple[bool, Any]:
    """(found, the value at `parts`: object keys, or list indexes as digits)."""
    for part in parts:
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return False, None
    return True, obj


def _without(obj: Any, parts: list[str]) -> Any:
    """A copy of `obj` without the value at `parts`: an object left empty goes too, a list keeps
    its length (an item the path ends on stays)."""
    head, rest = parts[0], parts[1:]
    if isinstance(obj, list):
        index = int(head)
        if not rest or not isinstance(obj[index], (dict, list)):
            return obj
        out_list = list(obj)
        out_list[index] = _without(obj[index], rest)
        return out_list
    out = dict(obj)
    if rest and isinstance(obj.get(head), (dict, list)):
        child = _without(obj[head], rest)
        if child or isinstance(child, list):
            out[head] = child
            return out
    elif rest:
        return obj
    out.pop(head, None)
    return out


def chat_turns(messages: Any) -> tuple[list[Any], Any]:
    """A chat's messages as (the conversation to answer, the assistant's final answer or None)."""
    if not isinstance(messages, list):
        raise ValueError("field 'messages': must be a list of {role, content} messages")
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
        return messages[:-1], message_text(messages[-1].get("content"))
    return messages, None


def completion_text(completion: Any) -> Any:
    """A completion as the expected output: its text, or a conversational one's assistant message."""
    if isinstance(completion, list):
        answers = [m for m in completion if isinstance(m, dict) and m.get("role") == "assistant"]
        return message_text(answers[-1].get("content")) if answers else None
    return completion


def sample_to_fields(data: Any, flavour: str) -> dict[str, Any]:
    """An inspect-ai Sample, OpenAI-evals record or chat conversation as our case fields: the last
    user message is the input (the conversation before it goes to metadata.messages); a chat whose
    last message is the assistant's has that answer as its expected output. Raises ValueError for
    bad shapes."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object (a sample), got a {type_name(data)}")
    rest = dict(data)
    if flavour == "chat":
        raw_input, target = chat_turns(rest.pop("messages", None))
    elif flavour == "prompt-completion":
        if "prompt" not in rest:
            raise ValueError("missing required field 'prompt'")
        raw_input, target = rest.pop("prompt"), completion_text(rest.pop("completion", None))
    else:
        if "input" not in rest:
            raise ValueError("missing required field 'input'")
        raw_input, target = rest.pop("input"), rest.pop("target" if flavour == "inspect" else "ideal", None)
    metadata = rest.pop("metadata", None) or {}
    if not isinstance(metadata, dict):
        raise ValueError(f"field 'metadata': must be a JSON object (got a {type_name(metadata)})")
    metadata = dict(metadata)
    if isinstance(raw_input, list):
        users = [m for m in raw_input if isinstance(m, dict) and m.get("role") == "user"]
        if not users:
            field = {"chat": "messages", "prompt-completion": "prompt"}.get(flavour, "input")
            raise ValueError(f"field '{field}': the message list has no user message")
        input_text = message_text(users[-1].get("content"))
        metadata["messages"] = raw_input
    else:
        input_text = raw_input
    if isinstance(target, list):
        metadata["targets"] = target
        target = target[0] if target else None
    fields: dict[str, Any] = {"input_text": input_text, "expected_output": target}
    if "id" in rest:
        fields["id"] = rest.pop("id")
    # Remaining sample keys (choices, files, setup, ...) are kept as metadata.
    fields["metadata"] = {**rest, **metadata}
    return fields
