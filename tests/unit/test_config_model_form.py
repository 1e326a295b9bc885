"""core.config.model_form: form text -> ModelConfig with per-field errors; saving through the writer."""

from __future__ import annotations

import pytest

from core.config.model_form import GENERAL, NAME, FormErrors, form_values, model_from_form, save_model
from core.config.schema import ModelConfig, load_config
from core.config.writer import ConfigDocument
from core.errors import ConfigError

TOML = """# my models
[run]
allow_overrides = ["temperature"]

[models.gpt]  # the baseline
model = "openai/gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"  # never the key itself
temperature = 0.2
"""


def _values(**kw: str) -> dict[str, str]:
    return {**form_values(None), "model": "openai/x", **kw}


def test_round_trip_of_form_values():
    model = ModelConfig(model="openai/x", api_base="http://h/v1", rpm=60, input_price_per_1m=0.5,
                        output_price_per_1m=1.5, params={"reasoning_effort": "low"})
    name, back = model_from_form("m", form_values(model))
    assert (name, back) == ("m", model)


def test_text_is_converted_and_blank_means_unset():
    _, model = model_from_form(" m ", _values(rpm="60", timeout_s="2.5", api_base=""))
    assert (model.rpm, model.timeout_s, model.api_base) == (60, 2.5, None)


def test_each_bad_field_is_named():
    with pytest.raises(FormErrors) as err:
        model_from_form("bad name", _values(model="", rpm="-1", tpm="lots", params="[1]", api_key_env="1X"),
                        taken={"x"})
    errors = err.value.errors
    assert set(errors) == {NAME, "model", "rpm", "tpm", "params", "api_key_env"}
    assert "greater than 0" in errors["rpm"]


def test_one_price_without_the_other_is_on_the_price_field():
    with pytest.raises(FormErrors) as err:
        model_from_form("m", _values(input_price_per_1m="1"))
    assert "both" in err.value.errors["output_price_per_1m"]


def test_taken_name_is_refused():
    with pytest.raises(FormErrors) as err:
        model_from_form("gpt", _values(), taken={"gpt"})
    assert "already exists" in err.value.errors[NAME]


def test_keys_outside_the_form_are_kept():
    original = ModelConfig(model="openai/x", temperature=0.2)
    _, model = model_from_form("m", _values(rpm="5"), original=original)
    assert (model.temperature, model.rpm) == (0.2, 5)


def test_save_keeps_comments_and_renames(tmp_path):
    path = tmp_path / "assay.toml"
    path.write_text(TOML)
    doc = ConfigDocument.read(path)
    cfg = doc.config()
    name, model = model_from_form("gpt4", _values(model="openai/gpt-4o", api_key_env="OPENAI_API_KEY", rpm="30"),
                                  original=cfg.models["gpt"])
    saved = save_model(doc, name, model, original="gpt")
    text = path.read_text()
    assert "# my models" in text and "# the baseline" in text and "# never the key itself" in text
    assert list(load_config(path).models) == ["gpt4"]
    assert load_config(path).models["gpt4"].temperature == 0.2
    assert not saved.changed_on_disk()


def test_a_cross_section_rule_is_a_form_error_and_nothing_is_written(tmp_path):
    path = tmp_path / "assay.toml"
    path.write_text(TOML)
    doc = ConfigDocument.read(path)
    _, model = model_from_form("m", _values(), original=ModelConfig(model="openai/x", max_tokens=5))
    with pytest.raises(FormErrors) as err:
        save_model(doc, "m", model)
    assert "allow_overrides" in err.value.errors[GENERAL]
    assert path.read_text() == TOML and doc.text == TOML


def test_save_refuses_after_an_external_edit(tmp_path):
    path = tmp_path / "assay.toml"
    path.write_text(TOML)
    doc = ConfigDocument.read(path)
    path.write_text(TOML + "\n# edited elsewhere\n")
    _, model = model_from_form("m", _values())
    with pytest.raises(ConfigError, match="changed on disk"):
        save_model(doc, "m", model)
    assert path.read_text().endswith("# edited elsewhere\n")
