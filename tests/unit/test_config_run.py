"""assay.toml: model/prompt/run schema, shared params and overrides, errors naming file and key,
and the starter file `assay init` writes."""

from __future__ import annotations

import re
import tomllib

import pytest

from core.config.schema import load_config, model_overrides, model_params, parse_config
from core.errors import ConfigError
from core.workspace import STARTER_TOML, Workspace


def _cfg(text: str, tmp_path):
    path = tmp_path / "assay.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_full_model_entry_and_shared_params(tmp_path):
    cfg = _cfg("""
[run]
temperature = 0.2
max_tokens = 300
seed = 7
allow_overrides = ["max_tokens"]
[models.a]
model = "openai/gpt-4o-mini"
api_base = "http://x/v1"
api_key_env = "OPENAI_API_KEY"
max_tokens = 50
params = { frequency_penalty = 0.5 }
timeout_s = 5
max_concurrency = 2
rpm = 60
tpm = 1000
input_price_per_1m = 1.0
output_price_per_1m = 2.0
""", tmp_path)
    m = cfg.models["a"]
    assert model_params(m, cfg.run) == {"temperature": 0.2, "max_tokens": 50, "seed": 7, "frequency_penalty": 0.5}
    assert model_overrides(m, cfg.run) == {"max_tokens": 50}


def test_override_not_allowed_names_file_and_key(tmp_path):
    with pytest.raises(ConfigError) as err:
        _cfg('[models.a]\nmodel = "openai/x"\ntemperature = 0.9\n', tmp_path)
    msg = str(err.value)
    assert "assay.toml" in msg and "models.a.temperature" in msg and "allow_overrides" in msg


@pytest.mark.parametrize("body, key", [
    ('[models.a]\nmodel = "x"\napi_key_env = "sk-not-a-name"\n', "models.a.api_key_env"),
    ('[models.a]\nmodel = "x"\nparams = { api_key = "k" }\n', "models.a.params"),
    ('[models.a]\nmodel = "x"\nparams = { temperature = 1 }\n', "models.a.params"),
    ('[models.a]\nmodel = "x"\ninput_price_per_1m = 1\n', "models.a"),
    ('[models.a]\nmodel = "x"\nbogus = 1\n', "models.a.bogus"),
    ('[run]\nconcurrency = 0\n', "run.concurrency"),
    ('[run]\nallow_overrides = ["model"]\n', "run.allow_overrides"),
    ('[run]\nprompt = "nope"\n', "run.prompt"),
    ('[judge]\nmodel = "ghost"\n', "judge.model"),
    ('[prompts.p]\ntemplate = "{input_text.__class__}"\n', "prompts.p.template"),
    ('[prompts.p]\ntemplate = "{expected_output}"\n', "prompts.p.template"),
    ('[prompts.p]\ntemplate = "{input_text"\n', "prompts.p.template"),
    ('[prompts.p.tasks.t]\ntemplate = "{nope}"\n', "prompts.p.tasks.t.template"),
])
def test_errors_name_the_key(tmp_path, body, key):
    with pytest.raises(ConfigError) as err:
        _cfg(body, tmp_path)
    assert key in str(err.value) and str(tmp_path / "assay.toml") in str(err.value)


def test_invalid_toml_names_file(tmp_path):
    with pytest.raises(ConfigError, match="invalid TOML"):
        _cfg("[run\n", tmp_path)


def test_prompt_variants_inherit(tmp_path):
    cfg = _cfg("""
[prompts.p]
system = "S"
template = "T {input_text}"
[prompts.p.tasks.a]
system = "SA"
[prompts.p.tasks.b]
template = "TB"
""", tmp_path)
    p = cfg.prompt("p")
    assert p.variant("a") == ("SA", "T {input_text}")
    assert p.variant("b") == ("S", "TB")
    assert p.variant("other") == ("S", "T {input_text}")


def test_starter_file_is_valid_as_written_and_with_every_example_uncommented():
    cfg = parse_config(tomllib.loads(STARTER_TOML))
    assert set(cfg.models) == {"demo-strong", "demo-fast"}
    everything = re.sub(r"(?m)^# ", "", STARTER_TOML)
    full = parse_config(tomllib.loads(everything))
    # Every key of every section is shown somewhere in the starter.
    for section, model in (("run", full.run), ("gpt", full.models["gpt"]), ("labeling", full.labeling),
                           ("judge", full.judge)):
        unset = [k for k in type(model).model_fields if k not in model.model_fields_set
                 # a model's own sampling params are overrides; the starter shows max_tokens as the example
                 and not (section == "gpt" and k in ("temperature", "top_p", "seed"))]
        assert not unset, f"{section}: keys not documented in the starter: {unset}"
    assert full.prompt("support").tasks


def test_init_writes_loadable_starter_and_keeps_existing(tmp_path):
    ws = Workspace(root=tmp_path, db_path=tmp_path / "assay.db")
    lines = ws.init()
    assert any("wrote" in line for line in lines)
    assert ws.load_config().models
    (tmp_path / "assay.toml").write_text("# mine\n")
    ws.init()
    assert (tmp_path / "assay.toml").read_text() == "# mine\n"
