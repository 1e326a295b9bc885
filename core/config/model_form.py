"""A [models.NAME] table as a form: text fields in, a validated ModelConfig out, errors per field.

Front ends show a model as one text field per key (`form_values`), and turn the typed text back
into a `ModelConfig` with the schema's own validation (`model_from_form`); every problem is
reported against the field that caused it (`FormErrors`). Keys the form does not show (the
shared-param overrides such as temperature, which need run.allow_overrides) are carried over
from the model being edited, never dropped.

`save_model` applies the change through the one assay.toml writer (core.config.writer) on a copy
of the document, so a refused edit leaves the caller's document untouched.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from pydantic import ValidationError

from core.config.schema import ModelConfig
from core.config.writer import ConfigDocument
from core.errors import ConfigError

# The keys the form edits, in the order it shows them.
FIELDS = ("model", "api_base", "api_key_env", "input_price_per_1m", "output_price_per_1m", "rpm", "tpm",
          "max_concurrency", "timeout_s", "params")
NAME = "name"  # the form's field for the [models.NAME] key
GENERAL = ""  # a problem that belongs to no single field
# Names are typed on the command line (`assay run --models a,b`): no spaces, commas or quotes.
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")


class FormErrors(ConfigError):
    """`errors`: field -> message (GENERAL for the form as a whole)."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in self.errors.items()))


def form_values(model: ModelConfig | None) -> dict[str, str]:
    """The text each field starts with (empty for unset keys)."""
    out = {key: "" for key in FIELDS}
    if model is None:
        return out
    for key in FIELDS:
        value = getattr(model, key)
        if key == "params":
            out[key] = json.dumps(value, ensure_ascii=False) if value else ""
        elif value is not None:
            out[key] = f"{value:g}" if isinstance(value, float) else str(value)
    return out


def check_name(name: str, *, taken: Collection[str]) -> str | None:
    """The problem with a new [models.NAME] name, or None."""
    if not name:
        return "a name is required"
    if not _NAME_RE.match(name):
        return "letters, digits, '_', '-' and '.' only (at most 64), starting with a letter, digit or '_'"
    if name in taken:
        return f"a model named {name!r} already exists"
    return None


def model_from_form(name: str, values: Mapping[str, str], *, original: ModelConfig | None = None,
                    taken: Collection[str] = ()) -> tuple[str, ModelConfig]:
    """(name, model) from the form's text; raises FormErrors naming each bad field.

    `original`: the model being edited (its keys outside the form are kept). `taken`: names
    already used by other models."""
    errors: dict[str, str] = {}
    name = name.strip()
    problem = check_name(name, taken=taken)
    if problem:
        errors[NAME] = problem
    data: dict[str, Any] = {}
    if original is not None:
        data = original.model_dump(exclude_none=True, exclude_defaults=True)
        for key in FIELDS:
            data.pop(key, None)
    for key in FIELDS:
        text = values.get(key, "").strip()
        if not text:
            continue
        if key == "params":
            try:
                params = json.loads(text)
            except ValueError as exc:
                errors[key] = f'not JSON ({exc.msg}); e.g. {{"reasoning_effort": "low"}}'
                continue
            if not isinstance(params, dict):
                errors[key] = "a JSON object, e.g. {\"reasoning_effort\": \"low\"}"
                continue
            data[key] = params
        else:
            data[key] = text
    try:
        model = ModelConfig.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else _field_of_model_rule(err["msg"])
            errors.setdefault(field, _message(err))
        raise FormErrors(errors) from None
    if errors:
        raise FormErrors(errors)
    return name, model


def save_model(doc: ConfigDocument, name: str, model: ModelConfig, *, original: str | None = None) -> ConfigDocument:
    """Write [models.NAME] (renamed from `original` when it differs) and return the saved document.

    Raises FormErrors when the whole config refuses the model (a cross-section rule, such as an
    override [run] does not allow), or ConfigError when the file changed on disk since `doc` was read.
    """
    def edit(copy: ConfigDocument) -> None:
        try:
            if original is not None and original != name:
                copy.rename_model(original, name)
            copy.set_model(name, model)
        except ConfigError as exc:
            raise FormErrors({_field_of_key(exc.key, name): _without_location(exc)}) from None

    return edited_copy(doc, edit)


def edited_copy(doc: ConfigDocument, edit: Callable[[ConfigDocument], None]) -> ConfigDocument:
    """Apply `edit` (one or more writer edits) to a copy of `doc`, save it and return it. `doc` is
    left as it was whatever happens, so a refused edit never lingers in a later save."""
    copy = dataclasses.replace(doc)
    edit(copy)
    copy.save()
    return copy


def _field_of_key(key: str | None, name: str) -> str:
    """The form field a config error's dotted key points at (`models.NAME.rpm` -> rpm)."""
    prefix = f"models.{name}."
    if key and key.startswith(prefix) and key[len(prefix):] in FIELDS:
        return key[len(prefix):]
    return GENERAL


def _without_location(exc: ConfigError) -> str:
    """The message without the `file: key: ` prefix ConfigError adds (the form shows where)."""
    where = ": ".join(p for p in (exc.file, exc.key) if p)
    return exc.message.removeprefix(f"{where}: ") if where else exc.message


def _field_of_model_rule(message: str) -> str:
    # The one model-level rule today: both prices or neither.
    return "output_price_per_1m" if "price" in message else GENERAL


def _message(err: Any) -> str:
    return str(err["msg"]).removeprefix("Value error, ")
