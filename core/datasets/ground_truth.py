"""Ground truth derived from the append-only label log.

Rules, per case:
- An undo event cancels the event it points at (and is itself no decision).
- Each annotator's *stance* on a case is their latest active label, flag or skip event: a later
  label replaces an earlier flag, a later flag withdraws an earlier label, a skip withdraws both.
- An adjudication decides (the latest active one wins).
- Otherwise a case somebody flagged waits for adjudication.
- Otherwise, when at least `required` annotators hold a label and all of them agree, that label is
  the ground truth.
- A case with no such label keeps the expected output it was imported with (possibly none).

A case needs adjudication when nobody adjudicated it yet and it is flagged or its labels disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from core.common.hashing import canonical_json
from store.labels import iter_events

STANCE_KINDS = ("label", "flag", "skip")


@dataclass
class CaseLabels:
    """The current (derived) label state of one case."""

    labels: dict[str, Any] = field(default_factory=dict)  # annotator -> value
    flags: dict[str, str | None] = field(default_factory=dict)  # annotator -> note
    skips: set[str] = field(default_factory=set)
    adjudication: tuple[str, Any] | None = None  # (annotator, value)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (annotator, note)

    @property
    def disagree(self) -> bool:
        return len({canonical_json(v) for v in self.labels.values()}) > 1

    @property
    def needs_adjudication(self) -> bool:
        return self.adjudication is None and (bool(self.flags) or self.disagree)

    def stance(self, annotator: str) -> tuple[str, Any] | None:
        """This annotator's current stance: ("label", value), ("flag", note), ("skip", None) or None."""
        if annotator in self.labels:
            return "label", self.labels[annotator]
        if annotator in self.flags:
            return "flag", self.flags[annotator]
        if annotator in self.skips:
            return "skip", None
        return None

    def decided(self, required: int) -> tuple[bool, Any]:
        """(True, value) when the log decides this case's ground truth."""
        if self.adjudication is not None:
            return True, self.adjudication[1]
        if self.flags or len(self.labels) < required or self.disagree:
            return False, None
        return True, next(iter(self.labels.values()))


def active_events(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events with every undone event (and the undo events themselves) removed."""
    events = list(events)
    undone = {e["undoes"] for e in events if e["kind"] == "undo" and e["undoes"] is not None}
    return [e for e in events if e["kind"] != "undo" and e["id"] not in undone]


def case_states(events: Iterable[dict[str, Any]]) -> dict[str, CaseLabels]:
    """case_id -> its derived label state. `events` in log order (ascending id)."""
    stances: dict[tuple[str, str], dict[str, Any]] = {}
    out: dict[str, CaseLabels] = {}
    for e in active_events(events):
        state = out.setdefault(e["case_id"], CaseLabels())
        if e["kind"] in STANCE_KINDS:
            stances[(e["case_id"], e["annotator"])] = e
        elif e["kind"] == "adjudicate":
            state.adjudication = (e["annotator"], e["value"])
        elif e["kind"] == "note" and e["note"]:
            state.notes.append((e["annotator"], e["note"]))
    for (case_id, annotator), e in stances.items():
        state = out[case_id]
        if e["kind"] == "label":
            state.labels[annotator] = e["value"]
        elif e["kind"] == "flag":
            state.flags[annotator] = e["note"]
        else:
            state.skips.add(annotator)
    return out


def current_labels(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """case_id -> {annotator: current label value} (cases without labels left out)."""
    return {cid: dict(s.labels) for cid, s in case_states(events).items() if s.labels}


def decided_values(states: dict[str, CaseLabels], required: int) -> dict[str, Any]:
    """case_id -> ground-truth value for every case whose derived state decides it."""
    out: dict[str, Any] = {}
    for case_id, state in states.items():
        decided, value = state.decided(required)
        if decided:
            out[case_id] = value
    return out


def derived_labels(db: sqlite_utils.Database, dataset_id: int, *, required: int = 1) -> dict[str, Any]:
    """case_id -> ground-truth value for every case the label log decides."""
    return decided_values(case_states(iter_events(db, dataset_id)), required)
