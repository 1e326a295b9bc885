"""The bundled demo data: three small datasets, labeling guidelines and the demo workspace builder.

Datasets (JSONL, one EvalCase-shaped object a line):
- contracts: extraction of party_a, party_b, effective_date (ISO), amount (number), currency
  (ISO code) and governing_law from contract and invoice snippets; multi-party cases use a
  `parties` list of {"name"} instead of party_a/party_b; a value the text does not state is null.
- support-tickets: classification into billing, technical, account, cancellation, other
  (see guidelines.md); the last five cases are unlabeled on purpose, for the labeling demo.
- faq: short-answer generation from a context paragraph; expected_output is the short answer.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

DEMO_DIR = Path(__file__).resolve().parent
GUIDELINES = DEMO_DIR / "guidelines.md"

# Dataset name -> (file, description); the order is the import order of the demo workspace.
DATASETS: dict[str, tuple[str, str]] = {
    "contracts": ("contracts.jsonl", "Extract parties, dates, amounts and governing law from contract snippets"),
    "support-tickets": ("support-tickets.jsonl", "Route customer support tickets to one of five queues"),
    "faq": ("faq.jsonl", "Answer product questions in a few words from a context paragraph"),
}


@cache
def _load(name: str) -> tuple[str, ...]:
    # Cached as JSON lines so every caller gets fresh, mutable dicts.
    path = DEMO_DIR / DATASETS[name][0]
    return tuple(line for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def load_cases(name: str) -> list[dict[str, Any]]:
    """The cases of one bundled dataset (EvalCase.model_dump() shape, without tags/excluded)."""
    return [json.loads(line) for line in _load(name)]
