"""The demo models: deterministic, different in quality on the bundled data, and a usable judge."""

from __future__ import annotations

import asyncio
import json
import re
import tomllib

import httpx
import pytest

from core.config.schema import parse_config
from demo import DATASETS, load_cases
from demo.workspace import demo_config_text
from demo.serve import DemoServer
from demo.serve.demo_models import answer
from demo.serve.heuristics import extract_fields, judge_verdict, parse_fields, parse_labels, pick_label

CFG = parse_config(tomllib.loads(demo_config_text("http://127.0.0.1:1/v1")))


@pytest.fixture(scope="module")
def base_url():
    with DemoServer() as srv:
        yield srv.base_url


def messages_for(case: dict) -> list[dict]:
    """The messages the runner sends for a case with the demo workspace's prompt."""
    system, template = CFG.prompt().variant(case["task_type"])
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": template.replace("{input_text}", case["input_text"])}]


def _parse_json(text: str):
    m = re.fullmatch(r"```json\n(.*)\n```", text.strip(), re.DOTALL)
    return json.loads(m.group(1) if m else text)


def correct(case: dict, output: str) -> bool | None:
    """Strict correctness; None for invalid JSON on an extraction case."""
    if case["task_type"] == "extraction":
        try:
            return _parse_json(output) == case["expected_output"]
        except json.JSONDecodeError:
            return None
    return output.strip().casefold() == case["expected_output"].casefold()


async def _outputs(base_url: str, model: str, cases: list[dict]) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as c:
        rs = await asyncio.gather(*[
            c.post("/chat/completions", json={"model": model, "messages": messages_for(case)}) for case in cases])
    return [r.json()["choices"][0]["message"]["content"] for r in rs]


LABELED = [c for name in DATASETS for c in load_cases(name) if c.get("expected_output") is not None]


@pytest.fixture(scope="module")
def results(base_url) -> dict[str, list[bool | None]]:
    out = {}
    for model in ("demo-strong", "demo-fast", "demo-flaky"):
        outputs = asyncio.run(_outputs(base_url, model, LABELED))
        out[model] = [correct(case, o) for case, o in zip(LABELED, outputs)]
    return out


def test_models_differ_in_quality_on_the_bundled_data(results):
    accuracy = {m: sum(bool(v) for v in r) / len(r) for m, r in results.items()}
    assert accuracy["demo-strong"] >= 0.9
    assert accuracy["demo-strong"] > accuracy["demo-flaky"] > accuracy["demo-fast"]
    assert results["demo-strong"].count(None) == 0 and results["demo-fast"].count(None) == 0
    invalid = results["demo-flaky"].count(None)
    n_extraction = sum(c["task_type"] == "extraction" for c in LABELED)
    assert 1 <= invalid <= 0.3 * n_extraction  # "breaks its JSON sometimes"


def test_fast_has_its_documented_weaknesses(base_url):
    tickets = [c for c in load_cases("support-tickets") if c.get("expected_output") == "cancellation"]
    assert set(asyncio.run(_outputs(base_url, "demo-fast", tickets))) == {"billing"}
    contracts = load_cases("contracts")
    outputs = [json.loads(o) for o in asyncio.run(_outputs(base_url, "demo-fast", contracts))]
    assert all("governing_law" not in o and "parties" not in o for o in outputs)
    assert any(isinstance(o["amount"], str) for o in outputs)
    assert any(re.fullmatch(r"[A-Z][a-z]+ \d{1,2}, \d{4}", o["effective_date"] or "") for o in outputs)


def test_same_request_same_answer(base_url):
    case = load_cases("contracts")[4]
    payload = {"model": "demo-flaky", "messages": messages_for(case), "temperature": 1.0}
    with httpx.Client(base_url=base_url) as c:
        first, second = (c.post("/chat/completions", json=payload).json() for _ in range(2))
    assert first["choices"][0]["message"]["content"] == second["choices"][0]["message"]["content"]
    for model in ("demo-strong", "demo-fast", "demo-flaky"):
        assert len({answer(model, messages_for(case)) for _ in range(3)}) == 1


def test_known_case_found_inside_any_template():
    case = load_cases("support-tickets")[0]
    msgs = [{"role": "user", "content": f"Ticket below.\n---\n  {case['input_text'].upper()}  \n---\nLabel?"}]
    assert answer("demo-strong", msgs) == case["expected_output"]


def test_unknown_inputs_get_generic_answers():
    system = "Classify the ticket. Valid labels: billing, technical, account, other. Answer with the label only."
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": "My account page shows a technical error"}]
    assert answer("demo-strong", msgs) == "technical"  # first configured label found in the input
    msgs[1]["content"] = "Something odd happened"
    assert answer("demo-strong", msgs) == "billing"
    system = "Reply with a JSON object. Fields: party_a, party_b, effective_date, amount, currency, governing_law."
    text = ("This agreement between Foo Corp and Bar LLC, dated March 5, 2021, for $1,200.50 "
            "is governed by the laws of the State of Maine.")
    out = json.loads(answer("demo-strong", [{"role": "system", "content": system}, {"role": "user", "content": text}]))
    assert out == {"party_a": "Foo Corp", "party_b": "Bar LLC", "effective_date": "2021-03-05", "amount": 1200.5,
                   "currency": "USD", "governing_law": "Maine"}
    assert answer("demo-strong", [{"role": "user", "content": "Hello there. How are you?"}]) == "Hello there."


def test_heuristic_parsers():
    assert parse_labels("Pick one of: `yes`, `no` or `maybe`.") == ["yes", "no", "maybe"]
    assert parse_labels("no labels here") == []
    assert parse_fields("Fields: name (string), total_amount (a number), items[0].sku. Then more.") == \
        ["name", "total_amount", "items[0].sku"]
    assert pick_label(["billing", "technical"], "TECHNICAL issue") == "technical"
    assert extract_fields("nothing", ["amount"]) == {"amount": None}


JUDGE = ('Reply with only a JSON object with the keys "pass", "score", "reason".\n\n'
         "RUBRIC: The answer says refunds are possible within 30 days.\n\n<<<OUTPUT\n{output}\nOUTPUT>>>")


def test_judge_verdict_rule():
    good = judge_verdict(JUDGE.format(output="You can get a refund within 30 days."))
    assert good["pass"] is True and 0 < good["score"] <= 1 and good["reason"]
    assert judge_verdict(JUDGE.format(output="Call us on Monday."))["pass"] is False
    assert judge_verdict(JUDGE.format(output=""))["pass"] is False


def test_judge_models_answer_judge_requests(base_url):
    from scorers.base import ScorerError
    from scorers.llm_rubric import build_prompt, parse_verdict

    prompt = build_prompt("Refunds are accepted within 30 days of purchase.", "mentions the 30 day refund window")
    msgs = [{"role": "user", "content": prompt}]
    with httpx.Client(base_url=base_url) as c:
        reply = {m: c.post("/chat/completions", json={"model": m, "messages": msgs}).json()["choices"][0]["message"]["content"]
                 for m in ("demo-judge", "demo-strong", "demo-badjudge")}
    verdict = parse_verdict(reply["demo-judge"])
    assert verdict.passed is True and verdict.score > 0
    assert parse_verdict(reply["demo-strong"]) == verdict
    with pytest.raises(ScorerError):
        parse_verdict(reply["demo-badjudge"])
    bad = build_prompt("Please contact support.", "mentions the 30 day refund window")
    assert parse_verdict(answer("demo-judge", [{"role": "user", "content": bad}])).passed is False
