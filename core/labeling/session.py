"""Expert labeling without a UI: a session that walks one annotator through their queue
(core.labeling.queue) and records every decision as an append-only label event (committed before
the next case is shown).

The Textual Label screen drives a `LabelSession` from one worker thread; `assay` tests drive it
directly. Nothing here imports textual or rich.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlite_utils

from core.config.schema import WorkspaceConfig
from core.datasets.ground_truth import STANCE_KINDS, CaseLabels, case_states
from core.labeling.outputs import outputs_shown
from core.labeling.queue import build_queue
from core.labeling.schema import Guidelines, LabelSchema, build_schema, load_guidelines
from core.records import LabelEvent
from store import datasets as store_ds
from store.datasets import CaseRow
from store.db import write
from store.labels import append_event, case_events, case_order, iter_events, latest_undoable, recent_times_on_case

Mode = Literal["label", "adjudicate"]
RATE_WINDOW = 20  # recent decisions that set the rate and ETA


# --- what a screen shows --------------------------------------------------------------------


@dataclass(frozen=True)
class OtherLabel:
    annotator: str
    kind: Literal["label", "flag", "adjudicate"]
    value: Any = None
    note: str | None = None


@dataclass(frozen=True)
class LabelProgress:
    done: int
    total: int
    skipped: int
    flagged: int
    rate_per_min: float | None  # from the time on case of recent decisions; None until there are some
    eta_s: float | None

    @property
    def remaining(self) -> int:
        return max(self.total - self.done - self.flagged, 0)


@dataclass(frozen=True)
class CaseView:
    """Everything the Label screen renders for one moment. `case` None = nothing (left) to show."""

    mode: Mode
    dataset_name: str
    annotator: str
    case: CaseRow | None
    position: int  # 1-based; 0 when there is no current case
    total: int
    progress: LabelProgress
    schema: LabelSchema | None = None
    guidelines: Guidelines | None = None
    mine: tuple[str, Any] | None = None  # (stance kind, value) of this annotator
    prefill: Any = None
    others: tuple[OtherLabel, ...] | None = None  # None = hidden (blind mode)
    model_outputs: tuple[tuple[str, str], ...] | None = None  # None = hidden (blind mode)
    notes: tuple[tuple[str, str], ...] = ()
    message: str = ""
    blind: bool = False


def _object_from(value: Any) -> dict[str, Any] | None:
    """A JSON object to prefill a form: a dict, or the first object in a text (bare, fenced or
    embedded, as the scorers find it), so a model output in a ```json fence prefills too."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        from scorers.jsontext import find_json_object  # here: importing scorers costs the app's start ~20 ms

        found = find_json_object(value)
        return found[0] if found is not None else None
    return None


# --- the session ----------------------------------------------------------------------------


@dataclass
class _ModeState:
    order: list[str]
    cursor: int = 0
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {cid: i for i, cid in enumerate(self.order)}


class LabelSession:
    """One annotator labeling one dataset. Use it from a single thread (it owns `db`)."""

    def __init__(
        self, db: sqlite_utils.Database, dataset_id: int, annotator: str, cfg: WorkspaceConfig, root: Path,
        *, reserved_keys: Collection[str] = (), clock: Callable[[], float] = time.monotonic,
    ):
        self.db, self.dataset_id, self.annotator, self.cfg, self.root = db, dataset_id, annotator, cfg, root
        self.reserved_keys = frozenset(reserved_keys)
        self.clock = clock
        self.required = cfg.labeling.required_labels
        self.blind = cfg.labeling.blind
        self.dataset_name = store_ds.dataset_name(db, dataset_id)
        self.mode: Mode = "label"
        self._schemas: dict[str, LabelSchema] = {}
        self._guidelines: dict[str, Guidelines] = {}
        self._stance: dict[str, tuple[str, Any]] = {}  # case_id -> (kind, value) for this annotator
        self._recent_ms: deque[int] = deque(maxlen=RATE_WINDOW)
        self._label = _ModeState([])
        self._adj = _ModeState([])
        self._adjudicated: set[str] = set()
        self._shown: tuple[Mode, str] | None = None
        self._shown_at = 0.0

    # -- loading -------------------------------------------------------------------------

    def open(self) -> CaseView:
        """Load the queue and position the cursor on this annotator's first undecided case."""
        states = case_states(iter_events(self.db, self.dataset_id))
        self._stance = {}
        for case_id, state in states.items():
            stance = state.stance(self.annotator)
            if stance is not None:
                self._stance[case_id] = stance
        self._label = _ModeState(build_queue(self.db, self.dataset_id, self.annotator, self.required, states))
        self._recent_ms.clear()
        self._recent_ms.extend(recent_times_on_case(self.db, self.dataset_id, self.annotator, RATE_WINDOW))
        self.mode = "label"
        self._label.cursor = self._next_open(-1)
        st = self._label
        if not st.order:
            return self.view("Nothing to label here: every case has ground truth, is excluded, or waits for adjudication.")
        if st.cursor >= len(st.order):
            return self.view(f"All {len(st.order)} cases in your queue are decided. Use [ ] to review, a to adjudicate.")
        cid = st.order[st.cursor]
        verb = "Resumed" if any(self._stance.get(c) for c in st.order) else "Starting"
        return self.view(f"{verb} at case {st.cursor + 1} of {len(st.order)} (id {cid})")

    def _next_open(self, after: int) -> int:
        """Index of the next case after `after` with no stance (wrapping), else the first skipped one,
        else len(order) (finished)."""
        order = self._label.order
        n = len(order)
        for step in range(1, n + 1):
            i = (after + step) % n
            if order[i] not in self._stance:
                return i
        for step in range(1, n + 1):
            i = (after + step) % n
            if self._stance[order[i]][0] == "skip":
                return i
        return n

    # -- reading -------------------------------------------------------------------------

    @property
    def _st(self) -> _ModeState:
        return self._label if self.mode == "label" else self._adj

    def current_case_id(self) -> str | None:
        st = self._st
        return st.order[st.cursor] if 0 <= st.cursor < len(st.order) else None

    def schema_for(self, task_type: str) -> LabelSchema:
        if task_type not in self._schemas:
            self._schemas[task_type] = build_schema(self.cfg, task_type, self.reserved_keys)
        return self._schemas[task_type]

    def guidelines_for(self, task_type: str) -> Guidelines:
        if task_type not in self._guidelines:
            self._guidelines[task_type] = load_guidelines(self.cfg, task_type, self.root)
        return self._guidelines[task_type]

    def progress(self) -> LabelProgress:
        if self.mode == "adjudicate":
            total = len(self._adj.order)
            done = sum(1 for c in self._adj.order if c in self._adjudicated)
            return LabelProgress(done, total, 0, 0, None, None)
        done = skipped = flagged = 0
        for cid in self._label.order:
            kind = self._stance.get(cid, ("", None))[0]
            done += kind == "label"
            skipped += kind == "skip"
            flagged += kind == "flag"
        rate = eta = None
        if self._recent_ms:
            mean_ms = max(sum(self._recent_ms) / len(self._recent_ms), 1.0)
            rate = 60_000 / mean_ms
            eta = max(len(self._label.order) - done - flagged, 0) * mean_ms / 1000
        return LabelProgress(done, len(self._label.order), skipped, flagged, rate, eta)

    def view(self, message: str = "") -> CaseView:
        st = self._st
        progress = self.progress()
        cid = self.current_case_id()
        case = store_ds.get_case(self.db, self.dataset_id, cid) if cid else None
        if case is None:
            self._shown = None
            return CaseView(self.mode, self.dataset_name, self.annotator, None, 0, len(st.order), progress,
                            message=message, blind=self.blind)
        if self._shown != (self.mode, case.case_id):
            # Time on case runs from the moment a case is first shown, not from re-renders.
            self._shown, self._shown_at = (self.mode, case.case_id), self.clock()
        state = case_states(case_events(self.db, self.dataset_id, case.case_id)).get(case.case_id, CaseLabels())
        mine = self._stance.get(case.case_id)
        revealed = self.mode == "adjudicate" or not self.blind or (mine is not None and mine[0] in ("label", "flag"))
        others: tuple[OtherLabel, ...] | None = None
        outputs: tuple[tuple[str, str], ...] | None = None
        if revealed:
            others_list = [OtherLabel(a, "label", v) for a, v in sorted(state.labels.items())
                           if a != self.annotator or self.mode == "adjudicate"]
            others_list += [OtherLabel(a, "flag", None, n) for a, n in sorted(state.flags.items())
                            if a != self.annotator or self.mode == "adjudicate"]
            if state.adjudication is not None:
                others_list.append(OtherLabel(state.adjudication[0], "adjudicate", state.adjudication[1]))
            others = tuple(others_list)
        schema = self.schema_for(case.task_type)
        if revealed or schema.judges_outputs:
            outputs = outputs_shown(self.db, self.dataset_id, case)
        return CaseView(
            mode=self.mode, dataset_name=self.dataset_name, annotator=self.annotator, case=case,
            position=st.cursor + 1, total=len(st.order), progress=progress,
            schema=schema, guidelines=self.guidelines_for(case.task_type),
            mine=mine, prefill=self._prefill(case, mine, state, outputs), others=others, model_outputs=outputs,
            notes=tuple(state.notes), message=message, blind=self.blind,
        )

    def _prefill(self, case: CaseRow, mine: tuple[str, Any] | None, state: CaseLabels,
                 outputs: tuple[tuple[str, str], ...] | None) -> Any:
        """Starting value of an extraction form or free-text editor: an earlier label, the imported
        expected output, or a model output - only what the annotator may see (blind mode)."""
        schema = self.schema_for(case.task_type)
        candidates: list[Any] = []
        if self.mode == "adjudicate" and state.adjudication is not None:
            candidates.append(state.adjudication[1])
        if mine is not None and mine[0] == "label":
            candidates.append(mine[1])
        candidates.append(case.expected)
        if outputs is not None:  # revealed: other labels and model outputs are fair game
            candidates += list(state.labels.values())
            candidates += [out for _, out in outputs]
        for value in candidates:
            if value is None:
                continue
            if schema.kind == "extraction":
                obj = _object_from(value)
                if obj is not None:
                    return obj
            elif isinstance(value, str):
                return value
        return None

    # -- decisions -----------------------------------------------------------------------

    def _elapsed_ms(self) -> int:
        return max(int((self.clock() - self._shown_at) * 1000), 0)

    def _append(self, kind: str, case_id: str, **kw: Any) -> int:
        event = LabelEvent(dataset_id=self.dataset_id, case_id=case_id, annotator=self.annotator, kind=kind, **kw)
        with write(self.db):
            return append_event(self.db, **event.model_dump(exclude={"id", "created_at"}))

    def decide(self, value: Any) -> CaseView:
        """Record a label (or, in adjudication mode, the deciding label) and move to the next case."""
        cid = self.current_case_id()
        if cid is None:
            return self.view("No case to label.")
        case = store_ds.get_case(self.db, self.dataset_id, cid)
        assert case is not None
        ms = self._elapsed_ms()
        gv = self.guidelines_for(case.task_type).version
        if self.mode == "adjudicate":
            self._append("adjudicate", cid, value=value, guidelines_version=gv, time_on_case_ms=ms)
            self._adjudicated.add(cid)
            self._adj.cursor = self._next_unadjudicated(self._adj.cursor)
            return self.view(f"Adjudicated case {self._adj.index[cid] + 1}: {_short(value)}")
        self._append("label", cid, value=value, guidelines_version=gv, time_on_case_ms=ms)
        self._stance[cid] = ("label", value)
        self._recent_ms.append(ms)
        n = self._label.index[cid] + 1
        self._label.cursor = self._next_open(self._label.cursor)
        return self.view(f"Saved {_short(value)} for case {n}.")

    def skip(self) -> CaseView:
        cid = self.current_case_id()
        if cid is None:
            return self.view()
        if self.mode == "adjudicate":
            return self.step(1)
        if self._stance.get(cid, ("", None))[0] == "label":
            # Skipping a case you already labeled would withdraw the label: just move on.
            return self.step(1)
        self._append("skip", cid, time_on_case_ms=self._elapsed_ms())
        self._stance[cid] = ("skip", None)
        n = self._label.index[cid] + 1
        self._label.cursor = self._next_open(self._label.cursor)
        return self.view(f"Skipped case {n}; it comes back when the rest is done.")

    def flag(self, note: str | None = None) -> CaseView:
        cid = self.current_case_id()
        if cid is None:
            return self.view()
        if self.mode == "adjudicate":
            return self.view("Flagging is for labeling; decide the case or skip it.")
        self._append("flag", cid, note=note or None, time_on_case_ms=self._elapsed_ms())
        self._stance[cid] = ("flag", note or None)
        n = self._label.index[cid] + 1
        self._label.cursor = self._next_open(self._label.cursor)
        return self.view(f"Flagged case {n} for adjudication.")

    def note(self, text: str) -> CaseView:
        cid = self.current_case_id()
        if cid is None or not text.strip():
            return self.view()
        self._append("note", cid, note=text.strip())
        return self.view("Note saved.")

    def undo(self) -> CaseView:
        """Cancel this annotator's latest not-yet-undone decision (of the current mode) and go back to it."""
        kinds = ("adjudicate",) if self.mode == "adjudicate" else STANCE_KINDS
        with write(self.db):
            target = latest_undoable(self.db, self.dataset_id, self.annotator, kinds)
            if target is None:
                undone = None
            else:
                append_event(self.db, dataset_id=self.dataset_id, case_id=target["case_id"],
                             annotator=self.annotator, kind="undo", undoes=target["id"])
                undone = target
        if undone is None:
            return self.view("Nothing to undo.")
        cid = undone["case_id"]
        state = case_states(case_events(self.db, self.dataset_id, cid)).get(cid, CaseLabels())
        if self.mode == "adjudicate":
            self._adjudicated.discard(cid)
            if cid not in self._adj.index:
                self._adj.order.append(cid)
                self._adj.index[cid] = len(self._adj.order) - 1
            self._adj.cursor = self._adj.index[cid]
        else:
            stance = state.stance(self.annotator)
            if stance is not None:
                self._stance[cid] = stance
            else:
                self._stance.pop(cid, None)
            if undone["kind"] == "label" and self._recent_ms:
                self._recent_ms.pop()
            if cid not in self._label.index:
                return self.view(f"Undid {undone['kind']} on {cid}, which is no longer in your queue.")
            self._label.cursor = self._label.index[cid]
        what = " ".join(p for p in (undone["kind"], _short(undone["value"])) if p)
        return self.view(f"Undid {what} on case {self._st.cursor + 1}.")

    def step(self, delta: int) -> CaseView:
        """Move to the previous/next case of the queue (decided or not)."""
        st = self._st
        if not st.order:
            return self.view()
        target = min(max(st.cursor + delta, 0), len(st.order) - 1)
        if target == st.cursor:
            return self.view("This is the first case." if delta < 0 else "This is the last case.")
        st.cursor = target
        return self.view()

    # -- adjudication --------------------------------------------------------------------

    def set_mode(self, mode: Mode) -> CaseView:
        if mode == "label":
            self.mode = "label"
            return self.view("Labeling.")
        states = case_states(iter_events(self.db, self.dataset_id))
        ords = case_order(self.db, self.dataset_id)
        pending = sorted((cid for cid, s in states.items() if s.needs_adjudication and cid in ords), key=ords.__getitem__)
        self._adj = _ModeState(pending)
        self._adjudicated = set()
        self.mode = "adjudicate"
        if not pending:
            return self.view("Adjudication queue is empty: no flagged cases and no disagreements.")
        return self.view(f"Adjudication: {len(pending)} cases flagged or in disagreement.")

    def _next_unadjudicated(self, after: int) -> int:
        order = self._adj.order
        for step in range(1, len(order) + 1):
            i = (after + step) % len(order)
            if order[i] not in self._adjudicated:
                return i
        return len(order)


def _short(value: Any, limit: int = 40) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
