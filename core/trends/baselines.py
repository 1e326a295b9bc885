"""Pinned baselines: the approved run a dataset lineage (and optionally one model) is compared with.

A baseline changes only by an explicit command (`assay baseline set / clear`), never as a side
effect of a run. Resolution for a model: its own pin if there is one, else the dataset-wide pin.
Every pin ever made is kept (`baseline_history`); setting or clearing retires the pin in force.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from core.datasets.browse import dataset_id as dataset_id_of
from core.errors import NotFoundError, UsageError
from store import baselines as store_baselines
from store import runs as store_runs


@dataclass(frozen=True, slots=True)
class Baseline:
    """One pin. `model` None: the baseline of every model of the dataset. Field order is the
    `assay baseline list --json` key order."""

    id: int
    dataset: str
    model: str | None
    run_id: str
    pinned_by: str
    pinned_at: str
    cleared_by: str | None
    cleared_at: str | None
    dataset_id: int

    @property
    def in_force(self) -> bool:
        return self.cleared_at is None


def _typed(row: store_baselines.BaselineRow) -> Baseline:
    return Baseline(id=row.id, dataset=row.dataset, model=row.model, run_id=row.run_id, pinned_by=row.pinned_by,
                    pinned_at=row.pinned_at, cleared_by=row.cleared_by, cleared_at=row.cleared_at,
                    dataset_id=row.dataset_id)


def set_baseline(db: sqlite_utils.Database, run_id: str, *, model: str | None = None, by: str) -> Baseline:
    """Pin `run_id` as the baseline of its dataset (of one of its models, with `model`)."""
    run = store_runs.get_run(db, run_id)
    if run is None:
        raise NotFoundError(f"no run '{run_id}' (see `assay runs`)")
    if model is not None and model not in run["models"]:
        raise UsageError(f"model '{model}' is not in run {run_id} (its models: {', '.join(run['models'])})")
    if run["status"] != "finished":
        raise UsageError(f"run {run_id} is {run['status']}: only a finished run can be a baseline")
    return _typed(store_baselines.pin(db, dataset_id=run["dataset_id"], model=model, run_id=run_id, by=by))


def clear_baseline(db: sqlite_utils.Database, dataset: str, *, model: str | None = None, by: str) -> int:
    """Retire the pin in force for the dataset (or one model's pin); 0 when there was none."""
    return store_baselines.clear(db, dataset_id=dataset_id_of(db, dataset), model=model, by=by)


def list_baselines(db: sqlite_utils.Database, *, include_cleared: bool = False) -> list[Baseline]:
    """The pins in force by dataset (dataset-wide first), or every pin ever made, oldest first."""
    rows = store_baselines.history(db) if include_cleared else store_baselines.in_force(db)
    return [_typed(r) for r in rows]


def resolve_baseline(db: sqlite_utils.Database, dataset_id: int, model: str | None = None) -> Baseline | None:
    """The pin in force for a model of a dataset: the model's own, else the dataset-wide one.
    Without a model: the dataset-wide pin."""
    pins = {r.model: r for r in store_baselines.in_force(db, dataset_id)}
    found = pins.get(model) if model is not None else None
    found = found or pins.get(None)
    return None if found is None else _typed(found)


def pinned_baseline_of_run(db: sqlite_utils.Database, run_id: str) -> str | None:
    """The run the Review screen compares `run_id` with by default: its dataset's pin (the
    dataset-wide one, else the pin of one of the run's models), unless that is the run itself."""
    run = store_runs.get_run(db, run_id)
    if run is None:
        return None
    candidates = [resolve_baseline(db, run["dataset_id"])] + [
        resolve_baseline(db, run["dataset_id"], m) for m in run["models"]]
    return next((b.run_id for b in candidates if b is not None and b.run_id != run_id), None)


def check_baseline_available(db: sqlite_utils.Database, baseline: str | None, dataset: str | None) -> None:
    """Before a run that will be compared (`assay run --baseline [RUN_ID]`): the baseline run exists,
    or (None: the pinned one) the dataset has a pin. NotFoundError otherwise, so a typo does not cost
    a whole run. Nothing to check for a pinned baseline of a resumed run (its dataset is not known yet)."""
    if baseline is not None:
        if store_runs.get_run(db, baseline) is None:
            raise NotFoundError(f"--baseline: no run '{baseline}' (see `assay runs`)")
    elif dataset is not None and not store_baselines.in_force(db, dataset_id_of(db, dataset)):
        raise NotFoundError(f"--baseline: no baseline pinned for dataset '{dataset}' "
                            "(pin one with `assay baseline set RUN`, or give a RUN_ID)")
