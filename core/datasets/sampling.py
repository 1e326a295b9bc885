"""An eval set sampled from production logs, stratified, deduplicated and reproducible.

Two passes over the log keep memory bounded by the candidates' keys, never their texts:
pass 1 validates every record (all or nothing, errors by line), drops duplicate inputs (exact, or
equal after collapsing whitespace and case; the first one is kept) and remembers, per stratum,
each candidate's input digest and line. Quotas are then computed and each stratum sampled with
`random.Random(seed)` over its candidates sorted by digest, strata in name order, so the same
seed gives the same sample whatever the file order. Pass 2 re-reads only the chosen lines.

Quotas: equal per stratum by default, or proportional to what each stratum has (largest-remainder
rounding). With equal quotas, what a small stratum cannot fill goes to the others.

A prompt-completion log's `completion` is production's answer (metadata.production_output). Chat
logs ({"messages": [...]}, the OpenAI chat format, when the record has no prompt key): the
last user message is the prompt, the turns up to it go to metadata.messages (the Label screen shows
them; `[prompts.X] conversation = true` sends them) and a final assistant message, what production
answered, to metadata.production_output: never the verified output, which only experts give.
Duplicates are then whole conversations, not equal last messages ("yes" ends many).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

import sqlite_utils

from core.datasets import formats
from core.datasets.importing import check_name, open_input, parse_pairs, source_names, split_record, to_case
from core.errors import InputError, UsageError
from core.datasets.formats import LOG_FORMATS
from core.common.hashing import canonical_json
from core.datasets.versions import snapshot
from core.records import DatasetVersion
from store import datasets as store_ds
from store.db import write

LOG_FIELDS = ("request_id", "prompt", "verified_output", "task_type", "difficulty", "timestamp", "production_output")
NONE_STRATUM = "(none)"
# Our case fields named as the log names them, for messages.
_CASE_TO_LOG = {"input_text": "prompt", "expected_output": "verified_output", "id": "request_id"}


# --- quotas -----------------------------------------------------------------------------------


def even_split(names: list[str], size: int) -> dict[str, int]:
    """`size` split as evenly as possible; the remainder goes one each in name order."""
    names = sorted(names)
    if not names:
        return {}
    share, extra = divmod(size, len(names))
    return {n: share + (1 if i < extra else 0) for i, n in enumerate(names)}


def equal_quotas(available: dict[str, int], size: int) -> dict[str, int]:
    """Equal shares; a stratum that cannot fill its share gives the rest to the others (water-filling)."""
    quotas = {s: 0 for s in available}
    left = min(size, sum(available.values()))
    open_ = sorted(s for s, n in available.items() if n > 0)
    while left > 0 and open_:
        share = left // len(open_)
        if share == 0:
            for s in open_[:left]:
                quotas[s] += 1
            break
        for s in open_:
            take = min(share, available[s] - quotas[s])
            quotas[s] += take
            left -= take
        open_ = [s for s in open_ if quotas[s] < available[s]]
    return quotas


def proportional_quotas(available: dict[str, int], size: int) -> dict[str, int]:
    """Shares proportional to `available`, rounded by largest remainder (ties: bigger stratum, then name)."""
    total = sum(available.values())
    if size >= total:
        return dict(available)
    quotas = {s: size * n // total for s, n in available.items()}
    by_remainder = sorted(available, key=lambda s: (-(size * available[s] % total), -available[s], s))
    for s in by_remainder[: size - sum(quotas.values())]:
        quotas[s] += 1
    return quotas


# --- reading logs -----------------------------------------------------------------------------


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def normalise(text: str) -> str:
    """What counts as the same input: whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()


def _log_format(path: Path, fmt: str | None) -> str:
    if fmt is None:
        fmt = formats.EXTENSIONS.get(path.suffix.lower())
        if fmt not in LOG_FORMATS:
            raise UsageError(f"cannot tell the format of {path.name!r} from its extension; pass --format jsonl|csv")
    elif fmt not in LOG_FORMATS:
        raise UsageError(f"logs are read as {' or '.join(LOG_FORMATS)}, not {fmt!r}")
    return fmt


@dataclass(frozen=True)
class _LogReader:
    path: Path
    display: str
    fmt: str
    sources: dict[str, str]  # log key -> our log field

    @property
    def prompt_key(self) -> str:
        return next(src for src, fld in self.sources.items() if fld == "prompt")

    def records(self, f: BinaryIO) -> Iterator[formats.RawRecord]:
        if self.fmt == "jsonl":
            return formats.read_jsonl(f, self.display)
        if self.fmt == "json":  # a JSON list of records, streamed
            return formats.read_json_array(f, self.display)
        table = formats.open_csv(f, self.display)
        prompt_col = self.prompt_key
        if prompt_col not in table.header:
            raise InputError(self.display, 1, f"no {prompt_col!r} column for the prompt; the header has: "
                                              f"{', '.join(table.header)} (use --field prompt=COLUMN)")
        return table.rows

    def case(self, rec: formats.RawRecord) -> tuple[dict[str, Any], dict[str, Any]]:
        """(validated case dict, the record's log fields). Raises InputError naming the line."""
        try:
            mapped, extra = self._split(rec.data)
            prompt = mapped.get("prompt")
            if prompt is None and isinstance(extra.get("messages"), list):  # a chat log
                prompt = extra.pop("messages")
            if prompt is None:
                raise ValueError(f"missing required field {self.prompt_key!r}; the record has keys "
                                 f"{', '.join(map(repr, rec.data))} (use --field prompt=KEY)")
            meta = dict(extra)
            if "completion" in meta and mapped.get(formats.PRODUCTION_OUTPUT) is None:
                # A prompt-completion log: the completion is what production answered.
                mapped[formats.PRODUCTION_OUTPUT] = formats.completion_text(meta.pop("completion"))
            nested = meta.pop("metadata", None)
            if isinstance(nested, dict):
                meta.update(nested)
            elif nested is not None:
                meta["metadata"] = nested
            if isinstance(prompt, list):
                prompt = self._conversation(prompt, meta)
            meta["source"] = "production"
            for key in ("timestamp", "request_id", formats.PRODUCTION_OUTPUT):
                if mapped.get(key) is not None:
                    meta[key] = mapped[key]
            case = to_case({
                "id": mapped.get("request_id"), "input_text": prompt,
                "expected_output": mapped.get("verified_output"), "task_type": mapped.get("task_type"),
                "difficulty": mapped.get("difficulty"), "metadata": meta,
            }, None)
        except ValueError as e:
            raise InputError(self.display, rec.line, self._log_names(str(e)), column=rec.column) from None
        return case, mapped

    @staticmethod
    def _conversation(messages: list[Any], meta: dict[str, Any]) -> str:
        """A chat's prompt (its last user message); the turns up to it and production's answer go
        to `meta`."""
        turns, answer = formats.chat_turns(messages)
        meta["messages"] = turns
        if answer is None and len(turns) < len(messages):  # production answered with tool calls only
            answer = messages[-1].get("tool_calls")
        if answer is not None:
            meta[formats.PRODUCTION_OUTPUT] = answer
        return formats.sample_to_fields({"messages": turns}, "chat")["input_text"]

    @cached_property
    def paths(self) -> tuple[str, ...]:
        """Mapped keys that are dotted paths into nested objects (`--field prompt=request.messages`)."""
        return tuple(k for k in self.sources if "." in k) if self.fmt != "csv" else ()

    def _split(self, data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object (a log record), got a {formats.type_name(data)}")
        if self.paths:
            data = formats.lift_paths(data, self.paths)
        mapped, extra = split_record(data, self.sources, csv=self.fmt == "csv")
        if self.fmt == "csv" and "verified_output" in mapped:
            mapped["verified_output"] = formats.object_cell(mapped["verified_output"])
        return mapped, extra

    def _log_names(self, message: str) -> str:
        log_name = {fld: src for src, fld in self.sources.items()}
        for ours, theirs in _CASE_TO_LOG.items():
            message = message.replace(f"field '{ours}'", f"field '{log_name.get(theirs, theirs)}'")
        return message


def _dedup_text(case: dict[str, Any]) -> str:
    """What makes two records the same: the input, or a chat's whole conversation up to it."""
    turns = case["metadata"].get("messages")
    return canonical_json(turns) if isinstance(turns, list) else case["input_text"]


def _stratum_of(by: str, case: dict[str, Any], mapped: dict[str, Any]) -> str | None:
    if by in ("task_type", "difficulty"):
        value = case[by]
    elif by in LOG_FIELDS:
        value = mapped.get(by)
    else:
        value = case["metadata"].get(by)
        if value is None and "." in by:  # --by properties.task: a key of a nested object
            value = formats.dig(case["metadata"], by.split("."))[1]
    if value is None:
        return None
    return value if isinstance(value, str) else canonical_json(value)


# --- the plan ---------------------------------------------------------------------------------


@dataclass
class StratumCoverage:
    stratum: str
    seen: int = 0  # records in the log
    duplicates: int = 0  # dropped as a repeat of an earlier input
    available: int = 0  # candidates after dedup
    quota: int = 0  # this stratum's nominal share of --size
    sampled: int = 0  # after redistribution; at most `available`
    labeled: int = 0  # sampled cases that carry a verified output


@dataclass
class SamplePlan:
    file: str
    format: str
    by: str
    size: int
    seed: int
    proportional: bool
    strata: list[StratumCoverage]
    duplicates_exact: int
    duplicates_normalised: int
    selected: dict[int, bytes] = field(repr=False)  # line -> input digest of each chosen record
    reader: _LogReader = field(repr=False)

    @property
    def seen(self) -> int:
        return sum(s.seen for s in self.strata)

    @property
    def available(self) -> int:
        return sum(s.available for s in self.strata)

    @property
    def sampled(self) -> int:
        return sum(s.sampled for s in self.strata)

    def report(self) -> dict[str, Any]:
        """The coverage report as plain data (for --json)."""
        return {
            "file": self.file, "format": self.format, "by": self.by, "size": self.size, "seed": self.seed,
            "proportional": self.proportional, "seen": self.seen, "available": self.available,
            "sampled": self.sampled,
            "duplicates": {"exact": self.duplicates_exact, "normalised": self.duplicates_normalised},
            "strata": [asdict(s) for s in self.strata],
        }


def plan_sample(
    path: str | Path, *, size: int, by: str = "task_type", seed: int = 0, proportional: bool = False,
    fields: dict[str, str] | None = None, fmt: str | None = None,
) -> SamplePlan:
    """Pass 1: validate, dedup, count, and choose which lines make the sample. Writes nothing."""
    if size < 1:
        raise UsageError("--size must be at least 1")
    display, path = str(path), Path(path)
    reader = _LogReader(path, display, _log_format(path, fmt), source_names(fields or {}, LOG_FIELDS))
    strata: dict[str, StratumCoverage] = {}
    candidates: dict[str, list[tuple[bytes, int, bool]]] = {}  # (input digest, line, labeled)
    first_exact: dict[bytes, bytes] = {}  # normalised digest -> exact digest of the kept input
    request_lines: dict[str, int] = {}
    dup_exact = dup_norm = 0
    by_found = by in LOG_FIELDS
    with open_input(path, display) as f:
        for rec in reader.records(f):
            case, mapped = reader.case(rec)
            value = _stratum_of(by, case, mapped)
            by_found = by_found or value is not None
            name = NONE_STRATUM if value is None else value
            cov = strata.setdefault(name, StratumCoverage(name))
            cov.seen += 1
            text = _dedup_text(case)
            norm, exact = _digest(normalise(text)), _digest(text)
            kept = first_exact.get(norm)
            if kept is not None:
                cov.duplicates += 1
                if kept == exact:
                    dup_exact += 1
                else:
                    dup_norm += 1
                continue
            first_exact[norm] = exact
            if mapped.get("request_id") is not None:
                first = request_lines.setdefault(case["id"], rec.line)
                if first != rec.line:
                    raise InputError(display, rec.line, f"duplicate request id {case['id']!r} (first seen on line {first})")
            candidates.setdefault(name, []).append((norm, rec.line, case["expected_output"] is not None))
            cov.available += 1
    if not by_found:
        raise UsageError(f"no record in {display} has a {by!r} field to stratify by")

    available = {s: c.available for s, c in strata.items()}
    if proportional:
        nominal = final = proportional_quotas(available, size)
    else:
        nominal, final = even_split(list(available), size), equal_quotas(available, size)
    rng = random.Random(seed)
    selected: dict[int, bytes] = {}
    for name in sorted(strata):
        strata[name].quota = nominal[name]
        strata[name].sampled = final[name]
        pool = sorted(candidates.get(name, []))
        for norm, line, labeled in rng.sample(pool, final[name]):
            selected[line] = norm
            strata[name].labeled += labeled
    return SamplePlan(
        file=display, format=reader.fmt, by=by, size=size, seed=seed, proportional=proportional,
        strata=[strata[s] for s in sorted(strata)], duplicates_exact=dup_exact, duplicates_normalised=dup_norm,
        selected=selected, reader=reader,
    )


def _chosen_cases(f: BinaryIO, plan: SamplePlan) -> Iterator[dict[str, Any]]:
    """Pass 2: the chosen records, in file order, checked against pass 1."""
    reader, left = plan.reader, dict(plan.selected)
    for rec in reader.records(f):
        norm = left.pop(rec.line, None)
        if norm is None:
            continue
        case, _ = reader.case(rec)
        if _digest(normalise(_dedup_text(case))) != norm:
            raise UsageError(f"{plan.file} changed while it was being sampled; run the command again")
        yield case
    if left:
        raise UsageError(f"{plan.file} changed while it was being sampled; run the command again")


def _name_taken(name: str) -> UsageError:
    return UsageError(f"dataset {name!r} already exists; choose another --name")


def check_new_name(db: sqlite_utils.Database, name: str) -> None:
    """Refuse a bad or taken dataset name before a whole log is read (write_sample checks it
    again under the write lock)."""
    check_name(name)
    try:
        store_ds.dataset_id(db, name)
    except store_ds.DatasetMissing:
        return
    raise _name_taken(name)


def write_sample(db: sqlite_utils.Database, plan: SamplePlan, name: str) -> DatasetVersion:
    """Pass 2: create dataset `name` from the plan's chosen records and take its first version."""
    check_name(name)
    with open_input(plan.reader.path, plan.file) as f, write(db):
        try:
            ds_id = store_ds.create_dataset(db, name)
        except store_ds.DatasetExists:
            raise _name_taken(name) from None
        store_ds.insert_cases(db, ds_id, _chosen_cases(f, plan))
        version, _ = snapshot(db, ds_id, "sample")
    return DatasetVersion(**version)


def parse_fields(text: str | None) -> dict[str, str]:
    """--field prompt=question,verified_output=answer -> {'prompt': 'question', ...}."""
    return parse_pairs(text, LOG_FIELDS, "--field")
