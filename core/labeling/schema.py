"""How a task type is labeled: its label schema (single-key choices, a form of fields, or free
text) and the guidelines annotators read, both from assay.toml."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from core.config.schema import TaskConfig, WorkspaceConfig


@dataclass(frozen=True)
class Choice:
    value: str
    keys: tuple[str, ...]
    hint: str = ""


@dataclass(frozen=True)
class LabelSchema:
    """How one task type is labeled: single-key choices, or a form of fields, or free text."""

    task_type: str
    kind: str
    choices: tuple[Choice, ...] = ()
    fields: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def single_key(self) -> bool:
        return self.kind in ("classification", "pass_fail", "rating")

    @property
    def judges_outputs(self) -> bool:
        """pass/fail and ratings grade model outputs, so those outputs are never blinded."""
        return self.kind in ("pass_fail", "rating")

    def choice_for(self, key: str, character: str | None = None) -> Choice | None:
        for choice in self.choices:
            if key in choice.keys or (character is not None and character in choice.keys):
                return choice
        return None


@dataclass(frozen=True)
class Guidelines:
    text: str  # Markdown
    version: str | None  # content hash, stored with each label event; None = no guidelines
    warnings: tuple[str, ...] = ()


def _task(cfg: WorkspaceConfig, task_type: str) -> TaskConfig:
    return cfg.tasks.get(task_type) or TaskConfig()


def build_schema(cfg: WorkspaceConfig, task_type: str, reserved_keys: Collection[str] = ()) -> LabelSchema:
    """The label schema of a task type. A key that clashes with a screen action is dropped, with a warning."""
    task = _task(cfg, task_type)
    warnings: list[str] = []
    reserved = set(reserved_keys)

    def usable(key: str, label: str) -> bool:
        if key in reserved:
            warnings.append(f"key '{key}' for '{label}' clashes with a screen action; not used")
            return False
        return True

    if task.kind == "classification":
        explicit = {label: key for label, key in task.keys.items() if usable(key, label)}
        free_digits = [str(d) for d in range(1, 10) if str(d) not in explicit.values() and str(d) not in reserved]
        choices = []
        for label in task.labels:
            if label in explicit:
                keys: tuple[str, ...] = (explicit[label],)
            elif label in task.keys:
                keys = ()
            elif free_digits:
                keys = (free_digits.pop(0),)
            else:
                keys = ()
                warnings.append(f"no key left for '{label}': set [tasks.{task_type}].keys")
            choices.append(Choice(label, keys, task.hints.get(label, "")))
        return LabelSchema(task_type, task.kind, tuple(choices), warnings=tuple(warnings))
    if task.kind == "pass_fail":
        choices = [
            Choice("pass", tuple(k for k in ("p", "1") if usable(k, "pass")), task.hints.get("pass", "")),
            Choice("fail", tuple(k for k in ("x", "2") if usable(k, "fail")), task.hints.get("fail", "")),
        ]
        return LabelSchema(task_type, task.kind, tuple(choices), warnings=tuple(warnings))
    if task.kind == "rating":
        choices = [Choice(str(r), (str(r),) if usable(str(r), str(r)) else (), task.hints.get(str(r), ""))
                   for r in range(1, 6)]
        return LabelSchema(task_type, task.kind, tuple(choices), warnings=tuple(warnings))
    if task.kind == "extraction":
        return LabelSchema(task_type, task.kind, fields=tuple(task.fields))
    return LabelSchema(task_type, "free_text")


def load_guidelines(cfg: WorkspaceConfig, task_type: str, root: Path) -> Guidelines:
    """[labeling] guidelines followed by the task type's own; files are relative to the workspace."""
    parts: list[str] = []
    warnings: list[str] = []
    task = _task(cfg, task_type)
    for text, file in ((cfg.labeling.guidelines, cfg.labeling.guidelines_file), (task.guidelines, task.guidelines_file)):
        if text:
            parts.append(text.strip())
        if file:
            path = (root / file).expanduser()
            try:
                parts.append(path.read_text(encoding="utf-8").strip())
            except (OSError, UnicodeDecodeError) as exc:
                warnings.append(f"guidelines file {file}: {getattr(exc, 'strerror', None) or exc}")
    text = "\n\n".join(p for p in parts if p)
    version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12] if text else None
    return Guidelines(text, version, tuple(warnings))
