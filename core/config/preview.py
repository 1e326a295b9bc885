"""Prompt editing without saving: a prompt with one part edited, and how it renders for a case.

The Models screen's Prompts tab edits either a prompt's own system + template or one per-task
variant ([prompts.NAME.tasks.TYPE]). `edited_prompt` builds the whole prompt as it would be saved
(validated by the schema: unknown placeholders, bad braces); `render_preview` renders a case the
way a run would, by the case's task type, and says which part applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from core.config.prompts import render_messages
from core.config.schema import PromptConfig, format_validation_errors
from core.errors import ConfigError


@dataclass(frozen=True)
class PromptPreview:
    messages: list[dict[str, str]] = field(default_factory=list)
    variant: str | None = None  # the task type whose variant applied; None: the prompt's own texts
    error: str | None = None  # why the case cannot be rendered (a missing placeholder value, ...)


def part_texts(prompt: PromptConfig, task_type: str | None) -> tuple[str, str]:
    """(system, template) as the editor shows them: the prompt's own, or one variant's ("" = inherited)."""
    if task_type is None:
        return prompt.system or "", prompt.template
    v = prompt.tasks.get(task_type)
    return ("", "") if v is None else (v.system or "", v.template or "")


def edited_prompt(prompt: PromptConfig, task_type: str | None, system: str, template: str) -> PromptConfig:
    """`prompt` with its own texts (task_type None) or one variant replaced. Blank system: none (own)
    or inherited (variant); blank template: required (own) or inherited (variant); a variant left
    wholly blank is removed. Raises ConfigError naming the problem."""
    data: dict[str, Any] = prompt.model_dump(exclude_none=True)
    if task_type is None:
        if not template.strip():
            raise ConfigError("a template is required (e.g. {input_text})", key="template")
        data["system"] = system or None
        data["template"] = template
    else:
        variant = {k: v for k, v in (("system", system), ("template", template)) if v}
        tasks = dict(data.get("tasks", {}))
        if variant:
            tasks[task_type] = variant
        else:
            tasks.pop(task_type, None)
        data["tasks"] = tasks
    try:
        return PromptConfig.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(format_validation_errors(exc)) from None


def render_preview(prompt: PromptConfig, case: dict[str, Any]) -> PromptPreview:
    """The messages a run would send for `case` (EvalCase shape), or the reason it cannot."""
    task_type = case.get("task_type") or "generation"
    variant = task_type if task_type in prompt.tasks else None
    try:
        return PromptPreview(render_messages(prompt, case), variant)
    except ConfigError as exc:
        return PromptPreview([], variant, exc.message)
