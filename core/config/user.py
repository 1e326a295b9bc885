"""Per-user settings (not per workspace): who is labeling, and key rebindings.

The file is `$ASSAY_USER_CONFIG`, else `$XDG_CONFIG_HOME/assay/config.toml`, else
`~/.config/assay/config.toml`. A missing or empty file means defaults.

    annotator = "dana"

    [keymap]              # binding id = key(s); ids are listed by `?` / F1 in the app
    "label.skip" = "k"
    "app.screen.datasets" = "f2"
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.config.schema import format_validation_errors, read_toml
from core.errors import ConfigError
from core.common.safe_text import safe_text


class UserConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    annotator: str | None = None
    keymap: dict[str, str] = Field(default_factory=dict)

    @field_validator("annotator")
    @classmethod
    def _annotator_name(cls, v: str | None) -> str | None:
        return None if v is None else validate_annotator(v)

    @field_validator("keymap")
    @classmethod
    def _keys_not_blank(cls, v: dict[str, str]) -> dict[str, str]:
        for binding_id, keys in v.items():
            if not keys.strip():
                raise ValueError(f"key for '{binding_id}' is blank")
        return v


def validate_annotator(name: str) -> str:
    """An annotator name is stored with every label: one visible line, no control characters."""
    name = name.strip()
    if not name:
        raise ValueError("annotator name is blank")
    if safe_text(name, single_line=True) != name:
        raise ValueError("annotator name contains control or line-break characters")
    if len(name) > 64:
        raise ValueError("annotator name is longer than 64 characters")
    return name


def user_config_path() -> Path:
    explicit = os.environ.get("ASSAY_USER_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "assay" / "config.toml"


def load_user_config(path: Path | None = None) -> UserConfig:
    path = path or user_config_path()
    data = read_toml(path)
    if data is None:
        return UserConfig()
    try:
        return UserConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(safe_text(format_validation_errors(exc)), file=str(path)) from None


def resolve_annotator(explicit: str | None, cfg: UserConfig) -> str:
    """`--as NAME` wins, then the user config, then the login name."""
    if explicit is not None:
        try:
            return validate_annotator(explicit)
        except ValueError as exc:
            raise ConfigError(f"--as: {exc}") from None
    if cfg.annotator:
        return cfg.annotator
    try:
        login = os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        login = ""
    try:
        return validate_annotator(login)
    except ValueError:
        return "anonymous"
