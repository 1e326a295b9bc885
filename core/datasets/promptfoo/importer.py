"""`assay import promptfoo promptfooconfig.yaml`: a promptfoo eval becomes an Assay dataset,
[models.*] entries, a prompt and per-case assertions.

What is translated
- prompts: inline strings, `file://` prompt files (.txt/.md, split on `---` lines; .json/.yaml
  chat messages; .jsonl one chat per line; globs), chat-JSON strings. A chat prompt may have one
  system message and one user message. Templates may use plain `{{ var }}` only.
- providers (or `targets`): openai, anthropic, ollama, groq, mistral, openrouter, deepseek ids
  -> litellm ids; config apiBaseUrl/apiHost -> api_base, apiKeyEnvar -> api_key_env, temperature,
  max_tokens, top_p, seed and a few sampling params. API keys themselves are never imported.
- tests: inline, or `file://` CSV (columns are vars; `__expected`, `__expected1..N` hold
  assertions in promptfoo's shorthand; `__description`), JSONL, JSON or YAML test files (globs
  allowed); array-valued vars expand into every combination, like promptfoo; `defaultTest`
  vars, assertions, threshold and options are merged into every test; options.prefix/suffix.
- assertions: see scorers.assertions (promptfoo semantics, `not-`, weight, threshold,
  llm-rubric). `defaultTest.options.provider` becomes the [judge] model.

Each (prompt, test) pair is one case: input_text = the rendered user message; metadata holds
`vars`, `assert` (+ `threshold`), `description`, `prompt` and `source` (file:path). The scoring
session applies `metadata.assert` to every result of the case. Dataset content is untrusted, so
assertions that run code (python, javascript, webhook, file:// code) are never imported.

Anything that cannot be translated (assertion types, providers, transforms, nunjucks features,
scenarios, ...) is listed with its location, and nothing is imported unless --skip-unsupported.
The dataset is named after the config's `description`, else the file's stem (or --name).
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.common.hashing import canonical_json
from core.config.writer import ConfigDocument
from core.datasets.formats import open_csv, text_lines
from core.datasets.promptfoo.convert import (Problems, assertion_from_csv, convert_assertion, convert_provider, render,
                                    template_problem, template_vars, var_text)
from core.errors import InputError, UsageError
from core.workspace import Workspace
from scorers.normalize import parse_number

_TOP_LEVEL = {"description", "prompts", "providers", "targets", "tests", "defaultTest"}
# Output and sharing settings: meaningless for an import, safe to ignore.
_IGNORED = {"outputPath", "sharing", "evaluateOptions", "writeLatestResults", "tags", "metadata",
            "commandLineOptions", "$schema"}
_TEST_KEYS = {"vars", "assert", "description", "threshold", "options", "metadata"}
_OPTION_KEYS = {"prefix", "suffix", "provider"}
_TEXT_SUFFIXES = (".txt", ".md")


@dataclass
class Prompt:
    label: str
    system: str | None
    user: str


@dataclass
class ImportPlan:
    name: str
    description: str
    cases: list[dict[str, Any]] = field(default_factory=list)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    judge: str | None = None
    system: str | None = None  # the prompt's system template
    problems: Problems = field(default_factory=Problems)


class _Reader:
    def __init__(self, config_path: Path):
        self.path = config_path
        self.base = config_path.parent
        self.display = str(config_path)
        self.problems = Problems()

    def at(self, path: str, file: str | None = None) -> str:
        return f"{file or self.display}:{path}"

    def _files(self, ref: str, where: str) -> list[Path]:
        pattern = str(self.base / ref.removeprefix("file://"))
        paths = sorted(Path(p) for p in glob.glob(pattern)) if glob.has_magic(pattern) else [Path(pattern)]
        missing = [p for p in paths if not p.is_file()]
        if not paths or missing:
            self.problems.add(where, f"no file matches {ref}", "this entry")
            return []
        return paths

    def _rel(self, path: Path) -> str:
        """A referenced file as the user would name it: next to the config's own display path."""
        try:
            return str(Path(self.display).parent / path.relative_to(self.base))
        except ValueError:
            return str(path)

    # --- prompts ----------------------------------------------------------------------------

    def prompts(self, raw: Any) -> list[Prompt]:
        if raw is None:
            self.problems.add(self.at("prompts"), "the config has no prompts", "everything")
            return []
        if isinstance(raw, dict) and not ({"raw", "id"} & set(raw)):
            raw = [{"id": k, "label": v} for k, v in raw.items()]  # {path: label} form
        items = raw if isinstance(raw, list) else [raw]
        out: list[Prompt] = []
        for i, item in enumerate(items):
            where = self.at(f"prompts[{i}]")
            label = None
            if isinstance(item, dict):
                extra = sorted(set(item) - {"raw", "id", "label"})
                if extra:
                    self.problems.add(where, f"prompt keys {', '.join(extra)} are not supported", "this prompt")
                    continue
                label, item = item.get("label"), item.get("raw") or item.get("id")
            if not isinstance(item, str):
                self.problems.add(where, "a prompt must be a string, a file:// reference or {raw|id, label}",
                                  "this prompt")
                continue
            if item.startswith("file://"):
                for path in self._files(item, where):
                    out += self._prompt_file(path, label, where)
            else:
                out += self._checked(self._parse_prompt(item, where), label or f"prompts[{i}]", where)
        return out

    def _prompt_file(self, path: Path, label: str | None, where: str) -> list[Prompt]:
        rel = self._rel(path)
        # Relative to the config, so the label (part of the case ids) does not depend on the cwd.
        label = label or (path.relative_to(self.base).as_posix() if path.is_relative_to(self.base) else rel)
        text = _read(path, rel)
        if path.suffix in _TEXT_SUFFIXES:
            parts = [p.strip() for p in text.replace("\r\n", "\n").split("\n---\n")]
            return [p for j, part in enumerate(parts) if part
                    for p in self._checked([{"role": "user", "content": part}],
                                           label if len(parts) == 1 else f"{label}#{j + 1}", self.at("", rel))]
        if path.suffix in (".json", ".yaml", ".yml"):
            data = _json(text, rel) if path.suffix == ".json" else _yaml(text, rel)
            return self._checked(self._messages(data, self.at("", rel)), label, self.at("", rel))
        if path.suffix == ".jsonl":
            out = []
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    w = self.at(f"line {n}", rel)
                    out += self._checked(self._messages(_json(line, rel, n), w), f"{label}:{n}", w)
            return out
        self.problems.add(where, f"prompt file {rel} ({path.suffix or 'no extension'}) is not supported "
                                 "(prompt functions are code and are never imported)", "this prompt")
        return []

    def _parse_prompt(self, text: str, where: str) -> list[dict[str, Any]] | None:
        if text.lstrip().startswith("["):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if isinstance(data, list):
                return self._messages(data, where)
        return [{"role": "user", "content": text}]

    def _messages(self, data: Any, where: str) -> list[dict[str, Any]] | None:
        if not (isinstance(data, list) and data and all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                                         and m.get("role") in ("system", "user", "assistant")
                                                         for m in data)):
            self.problems.add(where, "a chat prompt must be a list of {role, content} messages with text content",
                              "this prompt")
            return None
        return data

    def _checked(self, messages: list[dict[str, Any]] | None, label: str, where: str) -> list[Prompt]:
        if messages is None:
            return []
        roles = [m["role"] for m in messages]
        if roles not in (["user"], ["system", "user"]):
            self.problems.add(where, f"chat prompt with roles {roles}: only [system,] user is supported "
                                     "(no multi-turn prompts)", "this prompt")
            return []
        for m in messages:
            problem = template_problem(m["content"])
            if problem:
                self.problems.add(where, problem, "this prompt")
                return []
        system = messages[0]["content"] if roles[0] == "system" else None
        return [Prompt(label, system, messages[-1]["content"])]

    # --- tests --------------------------------------------------------------------------------

    def tests(self, raw: Any) -> list[tuple[str, dict[str, Any]]]:
        if raw is None:
            return []
        items = raw if isinstance(raw, list) else [raw]
        out: list[tuple[str, dict[str, Any]]] = []
        for i, item in enumerate(items):
            where = self.at(f"tests[{i}]" if isinstance(raw, list) else "tests")
            if isinstance(item, str) and item.startswith("file://"):
                for path in self._files(item, where):
                    out += self._tests_file(path, where)
            elif isinstance(item, dict):
                out.append((where, item))
            else:
                self.problems.add(where, "a test must be a table or a file:// reference", "this test")
        return out

    def _tests_file(self, path: Path, where: str) -> list[tuple[str, dict[str, Any]]]:
        rel = self._rel(path)
        if path.suffix == ".csv":
            return self._csv_tests(path, rel)
        text = _read(path, rel)
        if path.suffix == ".jsonl":
            out = []
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    out.append((self.at(f"line {n}", rel), _json(line, rel, n)))
            return out
        if path.suffix in (".json", ".yaml", ".yml"):
            data = _json(text, rel) if path.suffix == ".json" else _yaml(text, rel)
            data = data if isinstance(data, list) else [data]
            return [(self.at(f"[{i}]", rel), t) for i, t in enumerate(data)]
        self.problems.add(where, f"test file {rel} ({path.suffix or 'no extension'}) is not supported "
                                 "(test generators are code and are never imported)", "these tests")
        return []

    def _csv_tests(self, path: Path, rel: str) -> list[tuple[str, dict[str, Any]]]:
        out = []
        with path.open("rb") as fh:
            table = open_csv(fh, rel)
            for record in table.rows:
                test: dict[str, Any] = {"vars": {}, "assert": []}
                for col, cell in record.data.items():
                    where = self.at(f"row {record.line}:{col}", rel)
                    if col == "__expected" or (col.startswith("__expected") and col[10:].isdigit()):
                        spec = assertion_from_csv(cell)
                        if spec is not None:
                            test["assert"].append(spec)
                    elif col == "__description":
                        test["description"] = cell
                    elif col in ("__prefix", "__suffix"):
                        if cell:
                            test.setdefault("options", {})[col[2:]] = cell
                    elif col == "__threshold":
                        if cell.strip():
                            # Unparseable text is kept, so the threshold check reports it.
                            number = parse_number(cell)
                            test["threshold"] = cell if number is None else number
                    elif col.startswith("__"):
                        self.problems.add(where, f"CSV column {col} is not supported", "this column")
                    else:
                        test["vars"][col] = cell
                out.append((self.at(f"row {record.line}", rel), test))
        return out

    def default_test(self, raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        if isinstance(raw, str) and raw.startswith("file://"):
            paths = self._files(raw, self.at("defaultTest"))
            raw = _yaml(_read(paths[0], self._rel(paths[0])), self._rel(paths[0])) if paths else {}
        if not isinstance(raw, dict):
            self.problems.add(self.at("defaultTest"), "defaultTest must be a table", "defaultTest")
            return {}
        return raw

    # --- vars -----------------------------------------------------------------------------------

    def var_value(self, value: Any, where: str) -> tuple[bool, Any]:
        if isinstance(value, str) and value.startswith("file://"):
            paths = self._files(value, where)
            if not paths:
                return False, None
            path = paths[0]
            rel = self._rel(path)
            if path.suffix in _TEXT_SUFFIXES:
                return True, _read(path, rel)
            if path.suffix in (".json", ".yaml", ".yml"):
                text = _read(path, rel)
                return True, _json(text, rel) if path.suffix == ".json" else _yaml(text, rel)
            self.problems.add(where, f"var file {value} is not supported (text, JSON or YAML only)", "this test")
            return False, None
        return True, value


def _read(path: Path, display: str) -> str:
    """A referenced file's text (BOM dropped); bytes that are not UTF-8 are an InputError with
    the line and column, not a traceback."""
    with path.open("rb") as f:
        return "".join(text for _, text in text_lines(f, display))


def _json(text: str, display: str, line: int | None = None) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError(display, line or getattr(exc, "lineno", None), f"invalid JSON: {exc}") from None


def _yaml(text: str, display: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(display, mark.line + 1 if mark else None, f"invalid YAML: {exc}") from None


def _expand(variables: dict[str, Any]) -> list[dict[str, Any]]:
    """promptfoo's var expansion: every array-valued var multiplies the test."""
    keys = [k for k, v in variables.items() if isinstance(v, list)]
    if not keys:
        return [variables]
    return [{**variables, **dict(zip(keys, combo))} for combo in itertools.product(*(variables[k] for k in keys))]


def _shape_ok(r: _Reader, where: str, test: Any) -> bool:
    if not isinstance(test, dict):
        r.problems.add(where, "a test must be a table", "this test")
        return False
    shapes = {"vars": dict, "assert": list, "options": dict, "metadata": dict}
    bad = [k for k, t in shapes.items() if test.get(k) is not None and not isinstance(test[k], t)]
    if bad:
        r.problems.add(where, "; ".join(f"{k} must be a {'table' if shapes[k] is dict else 'list'}" for k in bad)
                       + (" (file:// vars are not supported)" if "vars" in bad else ""), "this test")
        return False
    return True


def _merge(default: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
    merged = {**default, **test}
    merged["vars"] = {**(default.get("vars") or {}), **(test.get("vars") or {})}
    merged["assert"] = list(default.get("assert") or []) + list(test.get("assert") or [])
    merged["options"] = {**(default.get("options") or {}), **(test.get("options") or {})}
    merged["options"].pop("provider", None)  # the grading provider: handled once, as [judge]
    return merged


def _case_id(payload: dict[str, Any], seen: dict[str, int]) -> str:
    base = "pf_" + hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()[:16]
    seen[base] = seen.get(base, 0) + 1
    return base if seen[base] == 1 else f"{base}-{seen[base]}"


def plan_import(config_path: Path, name: str | None = None) -> ImportPlan:
    """Read a promptfoo config (and the files it names) into an ImportPlan; nothing is written."""
    display = str(config_path)
    if not config_path.is_file():
        raise UsageError(f"no such file: {display}")
    config = _yaml(_read(config_path, display), display)
    if not isinstance(config, dict):
        raise InputError(display, None, "a promptfoo config must be a YAML mapping")
    r = _Reader(config_path)
    description = config.get("description") if isinstance(config.get("description"), str) else ""
    plan = ImportPlan(name=name or description or config_path.stem, description=description, problems=r.problems)
    for key in config:
        if key in _IGNORED:
            r.problems.note(f"ignored top-level key {key!r} (output/sharing settings)")
        elif key not in _TOP_LEVEL:
            r.problems.add(r.at(key), f"top-level key {key!r} is not supported", f"{key}")

    providers = config.get("providers", config.get("targets"))
    pkey = "providers" if "providers" in config else "targets"
    for i, spec in enumerate(providers if isinstance(providers, list) else [providers] if providers else []):
        converted = convert_provider(spec, r.at(f"{pkey}[{i}]"), r.problems)
        if converted:
            plan.models.setdefault(*converted)

    default = r.default_test(config.get("defaultTest"))
    grader = (default.get("options") or {}).get("provider")
    if grader is not None:
        converted = convert_provider(grader, r.at("defaultTest.options.provider"), r.problems)
        if converted:
            plan.judge = converted[0]
            plan.models.setdefault(*converted)

    prompts = r.prompts(config.get("prompts"))
    tests = r.tests(config.get("tests")) or [(r.at("defaultTest"), {})]
    seen: dict[str, int] = {}
    systems: set[str | None] = set()
    default_ok = _shape_ok(r, r.at("defaultTest"), default)
    for where, raw_test in tests:
        test = _merge(default if default_ok else {}, raw_test) if _shape_ok(r, where, raw_test) else None
        for case in _cases_for(r, where, test, prompts):
            systems.add(case["metadata"].get("system"))
            # Content-derived, and independent of where the config file lives.
            payload = {"input_text": case["input_text"],
                       "metadata": {k: v for k, v in case["metadata"].items() if k != "source"}}
            case["id"] = _case_id(payload, seen)
            plan.cases.append(case)
    if len(systems) == 1:
        # One system message for every case: it goes into the prompt itself.
        only = systems.pop()
        plan.system = None if only is None else only.replace("{", "{{").replace("}", "}}")
        for case in plan.cases:
            case["metadata"].pop("system", None)
    else:
        plan.system = "{metadata.system}"
        for case in plan.cases:
            case["metadata"]["system"] = case["metadata"].get("system") or ""
    if not plan.cases and prompts:
        r.problems.add(r.at("tests"), "no test could be imported", "everything")
    return plan


def _cases_for(r: _Reader, where: str, test: dict[str, Any] | None, prompts: list[Prompt]) -> list[dict[str, Any]]:
    if test is None:
        return []
    extra = sorted(set(test) - _TEST_KEYS)
    if extra:
        r.problems.add(where, f"test keys {', '.join(extra)} are not supported", "this test")
        return []
    options = test.get("options") or {}
    bad = sorted(set(options) - _OPTION_KEYS)
    if bad:
        r.problems.add(f"{where}.options", f"test options {', '.join(bad)} are not supported "
                                           "(transforms change what is graded)", "this test")
        return []
    threshold = test.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0 <= threshold <= 1):
        r.problems.add(f"{where}.threshold", f"threshold must be a number in [0, 1], got {threshold!r}", "this test")
        return []
    variables: dict[str, Any] = {}
    for key, value in (test.get("vars") or {}).items():
        ok, value = r.var_value(value, f"{where}.vars.{key}")
        if not ok:
            return []
        variables[key] = value
    out = []
    for vars_ in _expand(variables):
        asserts = [a for i, spec in enumerate(test.get("assert") or [])
                   if (a := convert_assertion(spec, vars_, f"{where}.assert[{i}]", r.base, r.problems)) is not None]
        dropped = len(test.get("assert") or []) - len(asserts)
        for prompt in prompts:
            for var in template_vars(prompt.user + (prompt.system or "")):
                if var not in vars_:
                    r.problems.note(f"{where}: prompt {prompt.label!r} uses {{{{ {var} }}}} but the test has no such "
                                    "var; it renders as empty text, as in promptfoo")
            text = (options.get("prefix") or "") + render(prompt.user, vars_) + (options.get("suffix") or "")
            if not text.strip():
                r.problems.add(where, f"prompt {prompt.label!r} renders to empty text", "this case")
                continue
            meta: dict[str, Any] = {"vars": dict(vars_), "prompt": prompt.label, "source": where}
            if asserts:
                meta["assert"] = asserts
            if threshold is not None:
                meta["threshold"] = threshold
            if test.get("description"):
                meta["description"] = var_text(test["description"])
            if test.get("metadata"):
                meta["promptfoo_metadata"] = test["metadata"]
            if dropped:
                meta["dropped_assertions"] = dropped
            if prompt.system is not None:
                meta["system"] = render(prompt.system, vars_)
            out.append({"input_text": text, "expected_output": None, "task_type": "generation", "metadata": meta})
    return out


# --- writing --------------------------------------------------------------------------------------


def _unused(name: str, taken: dict[str, Any], wanted: Any) -> str:
    """`name`, or name-2, name-3...: the first that is free or already holds exactly `wanted`."""
    candidate, n = name, 1
    while candidate in taken and taken[candidate] != wanted:
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def _add_to_config(doc: ConfigDocument, plan: ImportPlan, lines: list[str]) -> tuple[dict[str, str], str]:
    """Add the plan's models, prompt and judge to assay.toml (in memory; the caller saves). Existing
    keys are kept: a name already used for different settings gets a suffix. Returns (model names,
    prompt name)."""
    from core.config.schema import SHARED_PARAMS

    raw = doc.data()
    run = doc.config().run
    allowed = list(raw.get("run", {}).get("allow_overrides", []))
    models = dict(raw.get("models", {}))
    names: dict[str, str] = {}
    for name, table in plan.models.items():
        table = dict(table)
        for param in SHARED_PARAMS:
            # Sampling params are shared by every model of a run. A provider value equal to
            # [run]'s changes nothing; a different one is kept as an allowed per-model override.
            if param in table and table[param] == getattr(run, param):
                del table[param]
            elif param in table and param not in allowed:
                allowed.append(param)
                doc.set_value("run", "allow_overrides", allowed)
                lines.append(f"added {param!r} to [run] allow_overrides (a promptfoo provider sets its own)")
        final = names[name] = _unused(name, models, table)
        if final in models:
            lines.append(f"[models.{final}] already exists with the same settings")
            continue
        doc.set_model(final, table)
        models[final] = table
        clash = f" ([models.{name}] already exists with other settings)" if final != name else ""
        lines.append(f"added [models.{final}] model = {table['model']}{clash}")
    wanted = {"template": "{input_text}", **({"system": plan.system} if plan.system is not None else {})}
    prompts = raw.get("prompts", {})
    prompt_name = _unused(plan.name, prompts, wanted)
    if prompt_name not in prompts:
        doc.set_prompt(prompt_name, wanted)
        lines.append(f"added [prompts.{prompt_name}]")
    if plan.judge:
        grader = names[plan.judge]
        current = raw.get("judge", {}).get("model")
        if current and current != grader:
            lines.append(f"kept existing [judge] model = {current} (the promptfoo grader is [models.{grader}])")
        elif not current:
            doc.set_value("judge", "model", grader)
            lines.append(f"set [judge] model = {grader}")
    return names, prompt_name


def run_import(ws: Workspace, config_path: Path, name: str | None, skip_unsupported: bool) -> list[str]:
    """Import a promptfoo config into the workspace; returns lines for stderr.

    Raises UsageError listing every untranslatable item (file:path) unless skip_unsupported."""
    from core.datasets.importing import check_name
    from core.records import EvalCase, describe_validation_error
    from core.datasets.versions import snapshot
    from store import datasets as store_ds
    from store.db import write

    plan = plan_import(config_path, name)
    check_name(plan.name)
    listed = [f"{where}: {what}" for where, what, _ in plan.problems.items]
    if listed and not skip_unsupported:
        raise UsageError("cannot import everything from the promptfoo config; nothing was imported:\n  "
                         + "\n  ".join(listed) + "\n(--skip-unsupported imports the rest)")
    if not plan.cases:
        raise UsageError("nothing to import: no case could be built from the promptfoo config")
    lines = [f"skipped {dropped}: {where}: {what}" for where, what, dropped in plan.problems.items]
    for case in plan.cases:
        try:
            EvalCase.model_validate(case)
        except ValueError as exc:
            raise InputError(case["metadata"]["source"], None, describe_validation_error(exc)) from None

    doc = ConfigDocument.read(ws.config_path)
    out: list[str] = []
    names, prompt_name = _add_to_config(doc, plan, out)  # every edit validated: never a config that would not load

    db = ws.db()
    with write(db):
        try:
            ds_id = store_ds.create_dataset(db, plan.name, plan.description)
        except store_ds.DatasetExists:
            raise UsageError(f"dataset {plan.name!r} already exists (use --name)") from None
        store_ds.insert_cases(db, ds_id, plan.cases)
        version, _ = snapshot(db, ds_id, "import")
        # Last, inside the transaction: a failed config write rolls the dataset back.
        doc.save()
    n_assert = sum(1 for c in plan.cases if c["metadata"].get("assert"))
    lines.insert(0, f"imported {len(plan.cases)} cases ({n_assert} with assertions) into dataset {plan.name!r} "
                    f"version {version['version']} from {config_path}")
    lines += out
    lines += [f"note: {n}" for n in plan.problems.notes]
    models = ",".join(names[m] for m in plan.models if m != plan.judge) or "MODEL"
    lines.append(f"next: assay run --dataset {plan.name!r} --models {models} --prompt {prompt_name!r}")
    return lines
