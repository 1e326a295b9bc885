"""How much of a target text a model's output reproduces: the measures of the contamination probe.

Texts are compared as word tokens (casefolded runs of letters and digits), so spacing, case and
punctuation do not count. Two measures, both fractions:

- `longest_run_ratio`: the longest run of consecutive tokens the output shares with the target,
  over the target's length. 1.0 means the whole target appears verbatim in the output; a model
  that only writes on-topic text rarely shares more than a few tokens in a row.
- `ngram_precision`: the share of the output's n-grams (default 5) that occur in the target.
  None when either text is shorter than n tokens (nothing to measure, not zero).

Also the prompt-side helpers: `split_words` (the prefix and the remainder a probe uses) and
`shuffled_control` (the case's own prefix words in a deterministic shuffled order: the control
that shows chance overlap, since no model can continue a text it cannot recognise).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from core.common.hashing import content_hash

_TOKEN = re.compile(r"[^\W_]+")
# Both sides are cut to this many tokens before the quadratic longest-run search (a few ms at most).
MAX_TOKENS = 2000
DEFAULT_N = 5


def tokens(text: str) -> list[str]:
    """Word tokens: casefolded runs of letters and digits."""
    return _TOKEN.findall(text.casefold())[:MAX_TOKENS]


def longest_common_run(a: list[str], b: list[str]) -> int:
    """Length of the longest run of consecutive tokens found in both `a` and `b`."""
    if not a or not b:
        return 0
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                if cur[j] > best:
                    best = cur[j]
        prev = cur
    return best


def ngram_precision(output: list[str], target: list[str], n: int = DEFAULT_N) -> float | None:
    """Share of the output's n-grams (counted with repeats) that occur anywhere in the target."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if len(output) < n or len(target) < n:
        return None
    seen = {tuple(target[i:i + n]) for i in range(len(target) - n + 1)}
    grams = [tuple(output[i:i + n]) for i in range(len(output) - n + 1)]
    return sum(g in seen for g in grams) / len(grams)


@dataclass(frozen=True, slots=True)
class Overlap:
    target_tokens: int
    longest_run: int
    longest_run_ratio: float | None  # None when the target has no token
    ngram_precision: float | None


def overlap(output: str, target: str, n: int = DEFAULT_N) -> Overlap:
    """Both measures of `output` against `target`."""
    out, tgt = tokens(output), tokens(target)
    run = longest_common_run(out, tgt)
    return Overlap(target_tokens=len(tgt), longest_run=run, longest_run_ratio=run / len(tgt) if tgt else None,
                   ngram_precision=ngram_precision(out, tgt, n))


def normalised(text: str) -> str:
    """The text as its tokens joined by single spaces: what an exact match compares."""
    return " ".join(tokens(text))


def split_words(text: str, split: float) -> tuple[str, str] | None:
    """(prefix, remainder) of the text's whitespace-separated words, the prefix holding `split` of
    them (rounded, at least one word, and at least one word left over). None for a text of fewer
    than two words: there is nothing to continue."""
    if not 0 < split < 1:
        raise ValueError("split must be between 0 and 1 (exclusive)")
    words = text.split()
    if len(words) < 2:
        return None
    k = min(max(1, round(len(words) * split)), len(words) - 1)
    return " ".join(words[:k]), " ".join(words[k:])


def shuffled_control(prefix: str, seed: str) -> str:
    """The prefix's words in a shuffled order fixed by `seed` (the case id): same words, same
    length, no recognisable text. A shuffle that changes nothing (all words equal, or one word)
    is returned as it is."""
    words = prefix.split()
    rng = random.Random(content_hash(seed))
    shuffled = words[:]
    for _ in range(8):  # a short prefix may shuffle back into its own order: try again
        rng.shuffle(shuffled)
        if shuffled != words:
            break
    return " ".join(shuffled)
