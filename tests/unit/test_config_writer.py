"""core.config.writer: the one assay.toml writer keeps comments, key order and formatting, validates
every edit as the loader does, and never overwrites an edit made on disk meanwhile."""

from __future__ import annotations

import re

import pytest

from core.config.schema import ModelConfig, load_config
from core.config.writer import ConfigDocument
from core.errors import ConfigError
from core.workspace import STARTER_TOML

DEMO_STRONG = '''[models.demo-strong]
model = "openai/demo-strong"
api_base = "http://127.0.0.1:8765/v1"

'''
DEMO_FAST = '''[models.demo-fast]
model = "openai/demo-fast"
api_base = "http://127.0.0.1:8765/v1"
'''


def _comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


@pytest.fixture()
def starter(tmp_path):
    path = tmp_path / "assay.toml"
    path.write_text(STARTER_TOML, encoding="utf-8")
    return path


def test_saving_without_edits_writes_the_file_back_byte_for_byte(starter):
    doc = ConfigDocument.read(starter)
    doc.save()
    assert starter.read_text(encoding="utf-8") == STARTER_TOML


def test_add_edit_rename_delete_a_model_keeps_every_other_line(starter):
    doc = ConfigDocument.read(starter)
    doc.set_model("gpt", ModelConfig(model="openai/gpt-4o-mini", api_key_env="OPENAI_API_KEY",
                                     params={"frequency_penalty": 0.5}))
    doc.set_model("demo-fast", {"model": "openai/demo-fast", "api_base": "http://127.0.0.1:9000/v1", "rpm": 60})
    doc.rename_model("demo-fast", "fast")
    doc.delete_model("demo-strong")
    doc.save()

    text = starter.read_text(encoding="utf-8")
    # Exactly the edited lines changed: the new table sits right after the last model's keys and
    # before the commented example that follows them; the rest is untouched, byte for byte.
    expected = STARTER_TOML.replace(DEMO_STRONG, "").replace(DEMO_FAST, '''[models.fast]
model = "openai/demo-fast"
api_base = "http://127.0.0.1:9000/v1"
rpm = 60

[models.gpt]
model = "openai/gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
params = {frequency_penalty = 0.5}
''')
    assert text == expected
    assert _comments(text) == _comments(STARTER_TOML)  # no comment line was inside the deleted table
    cfg = load_config(starter)
    assert list(cfg.models) == ["fast", "gpt"]
    assert cfg.models["fast"].rpm == 60 and cfg.models["gpt"].params == {"frequency_penalty": 0.5}


def test_a_changed_value_keeps_its_line_comment_and_unchanged_values_keep_their_spelling(tmp_path):
    path = tmp_path / "assay.toml"
    path.write_text("[models.a]\nmodel = 'x'  # the cheap one\nrpm   = 60\ninput_price_per_1m = 0.150\n"
                    "output_price_per_1m = 0.6\n", encoding="utf-8")
    doc = ConfigDocument.read(path)
    doc.set_model("a", {"model": "y", "rpm": 60, "input_price_per_1m": 0.15, "output_price_per_1m": 0.6})
    # The new string's quotes are tomlkit's choice (0.15.2 writes "y", 0.15.3 keeps the old 'x' style).
    assert doc.text.replace("'y'", '"y"') == ("[models.a]\nmodel = \"y\"  # the cheap one\nrpm   = 60\n"
                                              "input_price_per_1m = 0.150\noutput_price_per_1m = 0.6\n")


def test_deleting_a_table_keeps_the_comments_around_it(tmp_path):
    path = tmp_path / "assay.toml"
    path.write_text("# top\n[models.a]\nmodel = 'x'\n\n# about b\n[models.b]\nmodel = 'y'  # gone with b\n"
                    "# after b\n\n[models.c]\nmodel = 'z'\n", encoding="utf-8")
    doc = ConfigDocument.read(path)
    doc.delete_model("b")
    assert doc.text == "# top\n[models.a]\nmodel = 'x'\n\n# about b\n# after b\n\n[models.c]\nmodel = 'z'\n"
    doc.delete_model("a")
    assert _comments(doc.text) == ["# top", "# about b", "# after b"]
    assert list(doc.config().models) == ["c"]


def test_prompts_with_per_task_variants(starter):
    doc = ConfigDocument.read(starter)
    doc.set_prompt("support", {"system": "Be brief.", "template": "Q: {input_text}",
                               "tasks": {"classification": {"system": "One label."}}})
    doc.set_prompt_task("support", "extraction", {"template": "Fields: {input_text}"})
    doc.duplicate_prompt("support", "support-2")
    doc.set_prompt_task("support", "classification", None)
    doc.rename_prompt("support-2", "terse")
    doc.save()
    cfg = load_config(starter)
    assert cfg.prompts["support"].variant("extraction") == ("Be brief.", "Fields: {input_text}")
    assert list(cfg.prompts["support"].tasks) == ["extraction"]
    assert cfg.prompts["terse"].variant("classification") == ("One label.", "Q: {input_text}")
    assert "[prompts.terse.tasks.classification]" in starter.read_text(encoding="utf-8")
    assert _comments(starter.read_text(encoding="utf-8")) == _comments(STARTER_TOML)
    doc.delete_prompt("terse")
    doc.delete_prompt("support")
    doc.save()
    assert starter.read_text(encoding="utf-8") == STARTER_TOML


def test_a_write_after_an_external_edit_is_refused(starter):
    doc = ConfigDocument.read(starter)
    doc.set_model("gpt", {"model": "openai/gpt-4o-mini"})
    assert not doc.changed_on_disk()
    external = STARTER_TOML.replace("[run]\n", "[run]\nrepeat = 3\n")
    starter.write_text(external, encoding="utf-8")
    assert doc.changed_on_disk()
    with pytest.raises(ConfigError, match="changed on disk"):
        doc.save()
    assert starter.read_text(encoding="utf-8") == external


@pytest.mark.parametrize("edit, key", [
    (lambda d: d.set_model("gpt", {"model": "openai/x", "temperature": 0.5}), "models.gpt.temperature"),
    (lambda d: d.set_model("gpt", {"model": "openai/x", "rpm": 0}), "models.gpt.rpm"),
    (lambda d: d.set_model("gpt", {"model": "openai/x", "colour": "red"}), "models.gpt.colour"),
    (lambda d: d.set_value("judge", "model", "nope"), "judge.model"),
    (lambda d: d.rename_model("demo-fast", "demo-strong"), "models.demo-strong"),
    (lambda d: d.delete_model("nope"), "models.nope"),
    (lambda d: d.set_prompt("p", {"template": "{no_such_field}"}), "prompts.p.template"),
])
def test_an_invalid_edit_is_refused_with_its_key_and_nothing_changes(starter, edit, key):
    doc = ConfigDocument.read(starter)
    with pytest.raises(ConfigError, match=re.escape(f"{starter}: {key}")):
        edit(doc)
    assert doc.text == STARTER_TOML
    doc.save()
    assert starter.read_text(encoding="utf-8") == STARTER_TOML


def test_a_reference_keeps_its_table(starter):
    doc = ConfigDocument.read(starter)
    doc.set_value("judge", "model", "demo-strong")
    with pytest.raises(ConfigError, match="judge.model"):
        doc.delete_model("demo-strong")
    doc.set_prompt("support", {"template": "{input_text}"})
    doc.set_value("run", "prompt", "support")
    with pytest.raises(ConfigError, match="run.prompt"):
        doc.rename_prompt("support", "other")


def test_a_missing_file_is_created(tmp_path):
    path = tmp_path / "assay.toml"
    doc = ConfigDocument.read(path)
    assert doc.changed_on_disk() is False
    doc.set_model("a", {"model": "openai/a"})
    doc.save()
    assert path.read_text(encoding="utf-8") == '[models.a]\nmodel = "openai/a"\n'
    assert load_config(path).models["a"].model == "openai/a"
