"""Per-user config: annotator identity and keymap, with errors that name the file and key."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.config.user import load_user_config, resolve_annotator, user_config_path


def test_path_from_env_and_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("ASSAY_USER_CONFIG", str(tmp_path / "u.toml"))
    assert user_config_path() == tmp_path / "u.toml"
    monkeypatch.delenv("ASSAY_USER_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert user_config_path() == tmp_path / "assay" / "config.toml"


def test_missing_or_empty_file_means_defaults(tmp_path):
    assert load_user_config(tmp_path / "none.toml").annotator is None
    (tmp_path / "e.toml").write_text("")
    assert load_user_config(tmp_path / "e.toml").keymap == {}


def test_annotator_and_keymap(tmp_path):
    p = tmp_path / "u.toml"
    p.write_text('annotator = "dana"\n[keymap]\n"label.skip" = "k"\n')
    cfg = load_user_config(p)
    assert cfg.annotator == "dana" and cfg.keymap == {"label.skip": "k"}
    assert resolve_annotator(None, cfg) == "dana"
    assert resolve_annotator("lee", cfg) == "lee"


@pytest.mark.parametrize("body, where", [
    ('annotatr = "x"', "annotatr: unknown key"),
    ('annotator = "a\\u001b[31m"', "annotator"),
    ("[keymap]\nx = 1", "keymap.x"),
    ("annotator = ", "invalid TOML"),
])
def test_errors_name_file_and_key(tmp_path, body, where):
    p = tmp_path / "u.toml"
    p.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_user_config(p)
    assert str(p) in err.value.message and where in err.value.message


def test_fallback_to_login_name(monkeypatch):
    from core.config.user import UserConfig

    monkeypatch.setenv("USER", "sam")
    assert resolve_annotator(None, UserConfig()) == "sam"
    with pytest.raises(ConfigError):
        resolve_annotator("bad\nname", UserConfig())
