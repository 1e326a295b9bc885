"""What demo-memo "memorised": the first half of the support-tickets and faq cases (file order).

Given a message that ends with the beginning of a memorised case's input (at least MIN_PREFIX_WORDS
words, normalised like every demo model's matching: casefolded, whitespace collapsed) but not the
whole input, it returns the rest of that input word for word. Asked for a memorised case by its id
(as a whole word) with no known input in the message, it returns the case's expected output.
Anything else is answered like demo-fast. That is the positive case of `assay probe contamination`:
a high share flagged on those two datasets, none on contracts, none on the shuffled controls.
"""

from __future__ import annotations

import json
import re
from functools import cache

from demo import load_cases

MEMORISED_DATASETS = ("support-tickets", "faq")
MIN_PREFIX_WORDS = 3


def _norm_words(text: str) -> list[str]:
    return text.casefold().split()


@cache
def _memorised() -> tuple[tuple[tuple[str, ...], tuple[str, ...], str, str | None], ...]:
    """Per memorised case: (its normalised input words, its original words, its id, its expected output as text)."""
    out = []
    for name in MEMORISED_DATASETS:
        cases = load_cases(name)
        for case in cases[: len(cases) // 2]:
            expected = case.get("expected_output")
            text = None if expected is None else expected if isinstance(expected, str) else json.dumps(expected)
            out.append((tuple(_norm_words(case["input_text"])), tuple(case["input_text"].split()), case["id"], text))
    return tuple(out)


def recall(user: str) -> str | None:
    """demo-memo's answer when the message is a memorised prefix or names a memorised case; else None."""
    text = " ".join(_norm_words(user))
    # The message ends with a proper prefix of a memorised input: the longest such prefix wins, and
    # the rest of that input is what comes next.
    best: tuple[int, str] | None = None
    for norm, words, _, _ in _memorised():
        for k in range(len(norm) - 1, MIN_PREFIX_WORDS - 1, -1):
            if (best is None or k > best[0]) and text.endswith(" ".join(norm[:k])):
                best = (k, " ".join(words[k:]))
                break
    if best is not None:
        return best[1]
    for _, _, case_id, expected in _memorised():
        if expected is not None and re.search(rf"(?<![\w-]){re.escape(case_id.casefold())}(?![\w-])", text):
            return expected
    return None
