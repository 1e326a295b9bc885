"""Deterministic demo models: answers are a pure function of (model, messages).

They recognise the bundled demo cases (core/demo) by their input text, normalised (casefolded,
whitespace collapsed) and found anywhere in the last user message, so a prompt template around
`{input_text}` does not matter. Known cases are answered from the ground truth, with each model's
characteristic mistakes; every "sometimes" below is a hash of (model, case id), never chance.

- demo-strong (~400 ms): right except on some hard cases (hash 1 in 4): a near-miss label,
  swapped parties (party_a <-> party_b, or the parties list reversed), a plausible wrong answer.
- demo-fast (~80 ms, cheap): labels every `cancellation` ticket `billing`; always drops
  `governing_law`; flattens a multi-party `parties` list to party_a/party_b (first two); writes
  one date in three as "March 1, 2024" and one amount in four as the string "12,500.00";
  answers half the FAQ questions in a sentence ("The answer is: 30 days.") and gets the tricky
  ones wrong.
- demo-flaky (~150 ms): knows the answers but breaks its JSON: ~15% of its JSON answers
  (extraction and judge verdicts) are cut in half, a quarter come in ```json fences; one
  classification answer in five is "Category: Billing"; one short answer in three is
  lowercased with a trailing period.
- demo-judge (~250 ms) and demo-badjudge (~100 ms): answer like demo-strong, except judge
  requests: demo-judge returns the JSON verdict, demo-badjudge prose without JSON.
- demo-memo (~80 ms): answers like demo-fast, but has "memorised" half of the support-tickets
  and faq cases (demo.serve.memo): it continues their inputs verbatim and recites their expected
  outputs by case id, the positive case of `assay probe contamination`.

A judge request is one whose system or user text contains `"pass", "score", "reason"`. Every
model but demo-badjudge answers it with {"pass", "score", "reason"} (rule: heuristics.judge_verdict).

Unknown inputs get a generic answer: a prompt mentioning JSON gets a JSON object of the
requested fields (found by regexes); a prompt listing labels gets the first label word that
appears in the input (else the first label); anything else gets the input's first sentence.
The model's mistakes above apply to generic answers too.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from demo import DATASETS, load_cases
from demo.serve import heuristics, memo

JUDGE_MARKER = '"pass", "score", "reason"'


@dataclass(frozen=True)
class ModelSpec:
    name: str
    latency_ms: float  # default latency, multiplied by the server's latency_scale
    description: str


MODELS: dict[str, ModelSpec] = {m.name: m for m in (
    ModelSpec("demo-strong", 400, "slow, expensive, nearly always right"),
    ModelSpec("demo-fast", 80, "fast and cheap; confuses cancellation with billing, drops governing_law"),
    ModelSpec("demo-flaky", 150, "knows the answers, breaks its JSON about 15% of the time"),
    ModelSpec("demo-judge", 250, "LLM-as-judge: answers judge prompts with a JSON verdict"),
    ModelSpec("demo-badjudge", 100, "a judge whose verdicts are prose, never JSON"),
    ModelSpec("demo-memo", 80, "like demo-fast, but has memorised half of the support-tickets and faq cases"),
)}

# The second-best label a careful model picks when it is wrong.
_NEAR_MISS = {"billing": "account", "technical": "account", "account": "technical",
              "cancellation": "billing", "other": "technical"}
# Plausible wrong short answers (a misread context), keyed by FAQ case id.
_WRONG_ANSWER = {
    "faq-05": "Immediately", "faq-07": "60 requests per minute", "faq-09": "Virginia, USA",
    "faq-10": "Android 11", "faq-12": "Yes, guests can edit and comment",
}
_MONTH_NAMES = ("January February March April May June July August September October November December").split()


@dataclass(frozen=True)
class _Known:
    id: str
    task_type: str
    expected: Any
    difficulty: str | None


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _h(*parts: str) -> int:
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@cache
def _known_cases() -> tuple[dict[str, _Known], tuple[str, ...]]:
    """Normalised input -> labeled bundled case, and the inputs longest first (for substring search)."""
    index: dict[str, _Known] = {}
    for name in DATASETS:
        for case in load_cases(name):
            if case.get("expected_output") is not None:
                index[_norm(case["input_text"])] = _Known(
                    case["id"], case["task_type"], case["expected_output"], case.get("difficulty"))
    return index, tuple(sorted(index, key=len, reverse=True))


def _find_known(user: str) -> _Known | None:
    index, by_length = _known_cases()
    text = _norm(user)
    if text in index:
        return index[text]
    for key in by_length:
        if key in text:
            return index[key]
    return None


def content_text(content: Any) -> str:
    """A message's text: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def answer(model: str, messages: list[dict[str, Any]]) -> str:
    """The model's reply to a chat. `model` must be one of MODELS."""
    system = "\n".join(content_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
    users = [content_text(m.get("content")) for m in messages if m.get("role") == "user"]
    user = users[-1] if users else ""
    if JUDGE_MARKER in system or any(JUDGE_MARKER in u for u in users):
        return _judge(model, system + "\n" + "\n".join(users))
    persona = ("demo-strong" if model in ("demo-judge", "demo-badjudge")
               else "demo-fast" if model == "demo-memo" else model)
    known = _find_known(user) if user else None
    if known is None and model == "demo-memo" and (recalled := memo.recall(user)) is not None:
        return recalled
    prompt = system + "\n" + user
    if known is not None:
        key, task, truth, difficulty = known.id, known.task_type, known.expected, known.difficulty
    else:
        key, difficulty = _norm(user), None
        labels = heuristics.parse_labels(prompt)
        if re.search(r"\bjson\b", prompt, re.IGNORECASE):
            task, truth = "extraction", heuristics.extract_fields(user, heuristics.parse_fields(prompt))
        elif labels:
            task, truth = "classification", heuristics.pick_label(labels, user)
        else:
            return heuristics.summarize(user)
    if task == "classification":
        return _classify(persona, key, str(truth), difficulty)
    if task == "extraction" and isinstance(truth, dict):
        return _render_json(persona, key, _extract(persona, key, truth, difficulty))
    return _short_answer(persona, key, str(truth), difficulty)


def _hard_miss(persona: str, key: str, difficulty: str | None) -> bool:
    return persona == "demo-strong" and difficulty == "hard" and _h(persona, key) % 4 == 0


def _classify(persona: str, key: str, label: str, difficulty: str | None) -> str:
    if _hard_miss(persona, key, difficulty):
        return _NEAR_MISS.get(label, "other")
    if persona == "demo-fast" and label == "cancellation":
        return "billing"
    if persona == "demo-flaky" and _h(persona, key, "wordy") % 5 == 0:
        return f"Category: {label.capitalize()}"
    return label


def _us_date(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{_MONTH_NAMES[int(month) - 1]} {int(day)}, {year}"


def _extract(persona: str, key: str, truth: dict[str, Any], difficulty: str | None) -> dict[str, Any]:
    out = json.loads(json.dumps(truth))  # a deep copy: the truth is shared
    if _hard_miss(persona, key, difficulty):
        if isinstance(out.get("parties"), list):
            out["parties"].reverse()
        else:
            out["party_a"], out["party_b"] = out.get("party_b"), out.get("party_a")
    if persona != "demo-fast":
        return out
    out.pop("governing_law", None)
    parties = out.pop("parties", None)
    if isinstance(parties, list):
        names = [p.get("name") for p in parties if isinstance(p, dict)] + [None, None]
        out = {"party_a": names[0], "party_b": names[1], **out}
    date = out.get("effective_date")
    if isinstance(date, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", date) and _h(persona, key, "date") % 3 == 0:
        out["effective_date"] = _us_date(date)
    amount = out.get("amount")
    if isinstance(amount, (int, float)) and _h(persona, key, "amount") % 4 == 0:
        out["amount"] = f"{amount:,.2f}"
    return out


def _render_json(persona: str, key: str, value: dict[str, Any]) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if persona == "demo-flaky":
        roll = _h(persona, key, "trunc") % 100
        if roll < 15:
            return text[: len(text) // 2]
        if roll < 40:
            return f"```json\n{text}\n```"
    return text


def _short_answer(persona: str, key: str, text: str, difficulty: str | None) -> str:
    if _hard_miss(persona, key, difficulty):
        return _WRONG_ANSWER.get(key, "I don't know")
    if persona == "demo-fast":
        if key in _WRONG_ANSWER and difficulty != "easy":
            return _WRONG_ANSWER[key]
        if _h(persona, key, "sentence") % 2 == 0:
            return f"The answer is: {text}."
    if persona == "demo-flaky" and _h(persona, key, "style") % 3 == 0:
        return text.lower() + "."
    return text


def _judge(model: str, prompt: str) -> str:
    verdict = heuristics.judge_verdict(prompt)
    if model == "demo-badjudge":
        tone = "acceptable" if verdict["pass"] else "not quite right"
        return f"Having read the output carefully, I would say it is {tone}. It addresses the question in a reasonable way."
    return _render_json(model, str(_h(prompt)), verdict)
