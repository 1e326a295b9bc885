"""promptfoo import without a server: translation, untranslatable items, config merging."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from core.workspace import Workspace
from core.errors import UsageError
from core.datasets.promptfoo.convert import Problems, assertion_from_csv, convert_provider, litellm_id, render, template_problem
from core.datasets.promptfoo.importer import plan_import, run_import

DATA = Path(__file__).resolve().parents[1] / "data" / "promptfoo"


@pytest.fixture()
def ws(tmp_path):
    return Workspace(root=tmp_path, db_path=tmp_path / "assay.db")


def copy_config(tmp_path, name, base="http://127.0.0.1:9/v1"):
    shutil.copytree(DATA / name, tmp_path / name)
    path = tmp_path / name / "promptfooconfig.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("__BASE_URL__", base), encoding="utf-8")
    return path


@pytest.mark.parametrize("pid, mapped", [
    ("openai:gpt-4o", "openai/gpt-4o"), ("openai:chat:gpt-4o-mini", "openai/gpt-4o-mini"),
    ("anthropic:messages:claude-3-5-haiku-latest", "anthropic/claude-3-5-haiku-latest"),
    ("ollama:chat:llama3:8b", "ollama/llama3:8b"), ("ollama:llama3", "ollama/llama3"),
    ("openai:embedding:text-embedding-3-small", None), ("echo", None), ("exec:./run.sh", None),
    ("openai:chat", None),
])
def test_provider_ids(pid, mapped):
    got = litellm_id(pid)
    assert (got[0] if got else None) == mapped


def test_provider_config():
    problems = Problems()
    name, table = convert_provider(
        {"id": "openai:chat:local-model", "label": "local gpt", "config": {
            "apiBaseUrl": "http://localhost:8000/v1", "temperature": 0.2, "max_tokens": 64, "stop": ["\n"]}},
        "cfg:providers[0]", problems)
    assert name == "local-gpt"
    assert table == {"model": "openai/local-model", "api_base": "http://localhost:8000/v1", "temperature": 0.2,
                     "max_tokens": 64, "params": {"stop": ["\n"]}}
    _, table = convert_provider("anthropic:messages:claude-x", "w", problems)
    assert table["api_key_env"] == "ANTHROPIC_API_KEY"
    _, table = convert_provider({"openai:gpt-4o": {"config": {"apiHost": "api.example.com"}}}, "w", problems)
    assert table == {"model": "openai/gpt-4o", "api_base": "https://api.example.com/v1"}
    assert problems.items == []
    assert convert_provider({"id": "openai:gpt-4o", "config": {"apiKey": "sk-x"}}, "w", problems) is None
    assert "never imported" in problems.items[-1][1]


def test_templates():
    assert render("Hi {{name}} and {{ name }}, {{missing}}!", {"name": "Ann"}) == "Hi Ann and Ann, !"
    assert render("n={{n}} ok={{ok}} obj={{o}}", {"n": 3, "ok": True, "o": {"a": 1}}) == 'n=3 ok=true obj={"a": 1}'
    assert template_problem("plain {{ var }} only") is None
    for bad in ("{{ x | upper }}", "{% if x %}y{% endif %}", "{# c #}", "{{ a.b }}", "{{ a[0] }}"):
        assert template_problem(bad), bad


@pytest.mark.parametrize("text, spec", [
    ("contains: foo", {"type": "contains", "value": "foo"}),
    ("not-icontains: Bar", {"type": "not-icontains", "value": "Bar"}),
    ("contains-any: a, b ,c", {"type": "contains-any", "value": ["a", "b", "c"]}),
    ("similar(0.8): hello", {"type": "similar", "value": "hello", "threshold": 0.8}),
    ("levenshtein(3): kitten", {"type": "levenshtein", "value": "kitten", "threshold": 3.0}),
    ("grade: is polite", {"type": "llm-rubric", "value": "is polite"}),
    ("latency: 1500", {"type": "latency", "threshold": 1500.0}),
    ("is-json", {"type": "is-json"}),
    ("Paris", {"type": "equals", "value": "Paris"}),
    ("Note: colon inside", {"type": "equals", "value": "Note: colon inside"}),
    ("python: output == 1", {"type": "python", "value": "output == 1"}),
    ("fn: output.length", {"type": "javascript", "value": "output.length"}),
    ("file://check.py", {"type": "python", "value": "file://check.py"}),
    ("", None),
])
def test_csv_shorthand(text, spec):
    assert assertion_from_csv(text) == spec


def test_plan_of_the_greetings_config(tmp_path):
    plan = plan_import(copy_config(tmp_path, "greetings"))
    assert plan.problems.items == []
    assert plan.name == "Greetings" and plan.judge == "demo-judge" and plan.system is None
    names = [c["metadata"]["vars"]["name"] for c in plan.cases]
    assert names == ["Alice", "Alice", "Bob", "Carol", "Dan", "Eve", "Frank", "Gina", "Gus", "Hal"]
    alice_fr = plan.cases[0]
    assert alice_fr["input_text"] == "Say hello to Alice in French. Keep it short."
    # defaultTest assertions come first, then the test's own, with {{name}} rendered.
    assert [a["type"] for a in alice_fr["metadata"]["assert"]] == ["not-icontains", "latency", "icontains", "llm-rubric"]
    assert alice_fr["metadata"]["assert"][2]["value"] == "Alice"
    assert plan.cases[5]["metadata"]["threshold"] == 0.5  # eve, from the YAML tests file
    assert plan.cases[2]["metadata"]["source"].endswith("greetings.csv:row 2")
    assert plan.cases[4]["metadata"]["assert"][3] == {"type": "levenshtein", "value": "Say hello to Dan in Dutch",
                                                      "threshold": 3.0}
    assert len({c["id"] for c in plan.cases}) == 10
    # Ids are content-derived: the same config gives the same ids.
    assert [c["id"] for c in plan_import(copy_config(tmp_path / "again", "greetings")).cases] == \
        [c["id"] for c in plan.cases]


def test_untranslatable_items_are_listed_and_nothing_is_imported(tmp_path, ws):
    (tmp_path / "assay.toml").write_text("# mine\n[run]\nconcurrency = 2\n", encoding="utf-8")
    before = (tmp_path / "assay.toml").read_text(encoding="utf-8")
    with pytest.raises(UsageError) as info:
        run_import(ws, DATA / "unsupported" / "promptfooconfig.yaml", None, False)
    message = info.value.message
    for where, what in [
        ("promptfooconfig.yaml:scenarios", "'scenarios' is not supported"),
        ("promptfooconfig.yaml:providers[1]", "'echo'"),
        ("promptfooconfig.yaml:providers[2].config.apiKey", "never imported"),
        ("promptfooconfig.yaml:prompts[1]", "nunjucks"),
        ("promptfooconfig.yaml:prompts[2]", "prompt functions are code"),
        ("promptfooconfig.yaml:tests[0].assert[1]", "'javascript' runs code"),
        ("promptfooconfig.yaml:tests[1].options", "transform"),
        ("promptfooconfig.yaml:tests[2].assert[1]", "'python' runs code"),
        ("promptfooconfig.yaml:tests[2].assert[2]", "'rouge-n' is not supported"),
        ("more.csv:row 2.assert[1]", "'python' runs code"),
    ]:
        assert any(where in line and what in line for line in message.splitlines()), (where, message)
    assert "nothing was imported" in message
    assert ws.db().execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 0
    assert (tmp_path / "assay.toml").read_text(encoding="utf-8") == before
    assert "sk-should-never-be-copied" not in message


def test_skip_unsupported_imports_the_rest(tmp_path, ws):
    lines = run_import(ws, DATA / "unsupported" / "promptfooconfig.yaml", "rest", True)
    assert lines[0].startswith("imported 4 cases")
    assert sum(line.startswith("skipped ") for line in lines) == 10
    db = ws.db()
    rows = db.execute("SELECT input_text, metadata_json FROM cases ORDER BY ord").fetchall()
    assert [r[0] for r in rows] == ["Answer What is 2+2?", "Answer Largest planet?", "xAnswer Who wrote Hamlet?",
                                    "Answer Boiling point of water?"]
    metas = [json.loads(r[1]) for r in rows]
    # No code-running assertion reached the dataset; dropped ones are counted per case.
    for meta in metas:
        assert all(a["type"] in ("contains", "equals") for a in meta["assert"])
    assert [m.get("dropped_assertions") for m in metas] == [1, 2, 1, None]
    cfg = tomllib.loads((tmp_path / "assay.toml").read_text(encoding="utf-8"))
    assert set(cfg["models"]) == {"gpt-4o-mini"}
    assert "sk-should-never-be-copied" not in (tmp_path / "assay.toml").read_text(encoding="utf-8")


def test_config_merge_keeps_existing_keys_and_comments(tmp_path, ws):
    original = ('# team settings\n[run]\nconcurrency = 3  # our rate limit\n\n'
                '[models.strong]\nmodel = "openai/gpt-4o"\napi_key_env = "OPENAI_API_KEY"\n')
    (tmp_path / "assay.toml").write_text(original, encoding="utf-8")
    lines = run_import(ws, copy_config(tmp_path, "greetings"), None, False)
    text = (tmp_path / "assay.toml").read_text(encoding="utf-8")
    assert text.startswith(original)  # appended: comments and existing keys untouched
    cfg = tomllib.loads(text)
    assert cfg["models"]["strong"] == {"model": "openai/gpt-4o", "api_key_env": "OPENAI_API_KEY"}
    assert cfg["models"]["strong-2"]["model"] == "openai/demo-strong"  # the name was taken
    assert "temperature" not in cfg["models"]["strong-2"]  # 0 is [run]'s temperature already
    assert cfg["prompts"]["Greetings"] == {"template": "{input_text}"}
    assert cfg["judge"] == {"model": "demo-judge"}
    assert any("--models strong-2,demo-fast --prompt 'Greetings'" in line for line in lines)
    with pytest.raises(UsageError, match="already exists"):
        run_import(ws, copy_config(tmp_path / "b", "greetings"), None, False)


def test_chat_prompts_and_per_case_system(tmp_path, ws):
    (tmp_path / "p.json").write_text(json.dumps([
        {"role": "system", "content": "You speak {{language}}. Use {braces} literally."},
        {"role": "user", "content": "Greet {{name}}."}]), encoding="utf-8")
    (tmp_path / "p.txt").write_text("First {{name}}\n---\nSecond {{name}}\n", encoding="utf-8")
    (tmp_path / "promptfooconfig.yaml").write_text(
        "prompts:\n  - file://p.json\n  - file://p.txt\n"
        "  - '[{\"role\": \"user\", \"content\": \"Inline {{name}}\"}]'\n"
        "providers: [ollama:chat:llama3]\n"
        "tests:\n  - vars: {name: Ann, language: [French, Dutch]}\n    options: {prefix: '>> '}\n", encoding="utf-8")
    plan = plan_import(tmp_path / "promptfooconfig.yaml", "chat")
    assert plan.problems.items == []
    assert [c["input_text"] for c in plan.cases] == [
        ">> Greet Ann.", ">> First Ann", ">> Second Ann", ">> Inline Ann",
        ">> Greet Ann.", ">> First Ann", ">> Second Ann", ">> Inline Ann"]
    # Systems differ between cases, so the prompt reads each case's own.
    assert plan.system == "{metadata.system}"
    assert plan.cases[0]["metadata"]["system"] == "You speak French. Use {braces} literally."
    assert plan.cases[4]["metadata"]["system"] == "You speak Dutch. Use {braces} literally."
    assert plan.cases[1]["metadata"]["system"] == ""
    assert plan.models == {"llama3": {"model": "ollama/llama3"}}
    run_import(ws, tmp_path / "promptfooconfig.yaml", "chat", False)
    cfg = tomllib.loads((tmp_path / "assay.toml").read_text(encoding="utf-8"))
    assert cfg["prompts"]["chat"] == {"template": "{input_text}", "system": "{metadata.system}"}


def test_single_system_goes_into_the_prompt(tmp_path):
    (tmp_path / "promptfooconfig.yaml").write_text(
        "prompts:\n  - '[{\"role\": \"system\", \"content\": \"Be {terse}.\"}, {\"role\": \"user\", "
        "\"content\": \"Q: {{q}}\"}]'\n"
        "tests:\n  - vars: {q: one}\n  - vars: {q: two}\n", encoding="utf-8")
    plan = plan_import(tmp_path / "promptfooconfig.yaml")
    assert plan.system == "Be {{terse}}."  # literal braces escaped for Assay's template syntax
    assert all("system" not in c["metadata"] for c in plan.cases)


def test_bad_inputs(tmp_path):
    (tmp_path / "promptfooconfig.yaml").write_text(
        "prompts: ['x {{a}}']\ntests:\n  - vars: {a: 1}\n    threshold: 2\n  - vars: 'file://v.yaml'\n"
        "  - vars: {a: 2}\n    provider: openai:gpt-4o\n", encoding="utf-8")
    plan = plan_import(tmp_path / "promptfooconfig.yaml")
    problems = [w.split(":", 1)[1] for w, _, _ in plan.problems.items]
    assert problems == ["tests[0].threshold", "tests[1]", "tests[2]", "tests"]  # tests: none left
    (tmp_path / "broken.yaml").write_text("prompts: [unclosed\n", encoding="utf-8")
    with pytest.raises(Exception, match="broken.yaml:2: invalid YAML"):
        plan_import(tmp_path / "broken.yaml")


def test_csv_tests_file_problems_are_reported_not_raised_or_dropped(tmp_path):
    from core.errors import InputError

    (tmp_path / "promptfooconfig.yaml").write_text("prompts: ['Say {{x}}']\ntests: file://t.csv\n", encoding="utf-8")
    (tmp_path / "t.csv").write_bytes(b"x,__expected,__threshold\nok,contains: a,0.5\nbad,contains: a,abc\n")
    plan = plan_import(tmp_path / "promptfooconfig.yaml")
    assert plan.cases[0]["metadata"]["threshold"] == 0.5
    assert [(w.split(":", 1)[1], what) for w, what, _ in plan.problems.items] == [
        ("row 3.threshold", "threshold must be a number in [0, 1], got 'abc'")]
    (tmp_path / "t.csv").write_bytes(b"x,__expected\ncaf\xe9,contains: a\n")
    with pytest.raises(InputError, match=r"t.csv:2:4: not valid UTF-8"):
        plan_import(tmp_path / "promptfooconfig.yaml")
