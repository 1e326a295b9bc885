"""Measurement noise on demand: with `flip_rate` f > 0 the server makes a share f of its answers
wrong, so a run with --repeat k has verdicts that flip between repeats at a known rate (the noise
floor that `assay noise` measures, and the false alarms an A/A comparison shows).

Which answers: the runner sends the k repeats of a case as k identical requests (the repeat index
is only in its own cache key), so the server tells them apart by occurrence: the n-th time it
answers a given (model, messages) it flips that answer when hash(seed, request, n) / 2^64 < f.
Each answer is therefore wrong independently with probability f, and the same seed, rate and
requests always flip the same set of answers (whatever order concurrent repeats arrive in: they
are identical). The occurrence counts restart when `flip_rate` or `seed` is configured. A request
retried after an injected fault that still produced an answer (truncate, bad_json) counts again.

A flipped answer is a well-formed wrong one (scored as a fail, not a scorer error):
- a prompt listing labels: the label after the one the answer names (cyclic); an answer naming
  no label is left as it is (already not a label);
- a JSON object: a judge verdict gets the opposite "pass" (and score 1 - score); any other object
  gets "unknown" for every field;
- anything else: "I don't know."
So a case the model gets right fails on a flipped repeat, and a case it gets wrong stays wrong:
with k repeats the share of right-answered cases whose verdicts disagree is 1 - (1-f)^k - f^k,
and two repeats disagree with probability 2f(1-f).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter
from typing import Any

from demo.serve import heuristics

DONT_KNOW = "I don't know."
_FENCED = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest(), "big")


class Flipper:
    """Decides which answers to flip; safe to call from the event loop while another thread configures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: Counter[int] = Counter()

    def restart(self) -> None:
        with self._lock:
            self._seen.clear()

    def flips(self, rate: float, seed: int, model: str, messages: list[dict[str, Any]]) -> bool:
        """Whether this answer to (model, messages) is flipped; counts the occurrence."""
        if rate <= 0:
            return False
        request = _digest(json.dumps([model, messages], sort_keys=True, default=str))
        with self._lock:
            occurrence = self._seen[request]
            self._seen[request] += 1
        return _digest(str(seed), str(request), str(occurrence)) / 2 ** 64 < rate


def _wrong_object(value: dict[str, Any]) -> dict[str, Any]:
    if "pass" in value:
        score = value.get("score")
        flipped_score = 1 - score if isinstance(score, (int, float)) and not isinstance(score, bool) else score
        return {**value, "pass": not value["pass"], "score": flipped_score}
    return {key: "unknown" for key in value}


def wrong_answer(content: str, prompt: str) -> str:
    """A well-formed wrong answer in place of `content` (rules in the module docstring); `prompt` is
    the text of the request's messages (where a label list is found)."""
    labels = heuristics.parse_labels(prompt)
    if labels:
        said = content.casefold()
        named = next((i for i, label in enumerate(labels) if re.search(rf"\b{re.escape(label.casefold())}\b", said)),
                     None)
        return content if named is None else labels[(named + 1) % len(labels)]
    text = content.strip()
    fenced = _FENCED.match(text)
    try:
        value = json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        value = None
    if isinstance(value, dict) and value:
        return json.dumps(_wrong_object(value), ensure_ascii=False)
    return DONT_KNOW
