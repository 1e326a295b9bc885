"""A small run history for the Trends screen tests: a 300-case dataset over two task types, six
daily runs of two models with exact verdict patterns (tests/unit/trends_fixtures.py), the fifth
run pinned as the baseline, and the sixth checked against it: model `fast` drops 10 points on
every case of one task type (an alert), `strong` moves within noise. The provider changes the
model string `strong` answers with from the fourth run on (a series break)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from trends_fixtures import base_pattern, dataset, flipped, run  # noqa: E402

from core.config.schema import load_config  # noqa: E402
from core.trends.alerts import check_run  # noqa: E402
from core.trends.baselines import set_baseline  # noqa: E402
from core.workspace import Workspace, resolve  # noqa: E402
from store import connect, write  # noqa: E402

N = 300
CONFIG = """
[models.strong]
model = "openai/strong-1"
input_price_per_1m = 5.0
output_price_per_1m = 15.0

[models.fast]
model = "openai/fast-1"
input_price_per_1m = 0.15
output_price_per_1m = 0.6
"""


def run_ids() -> list[str]:
    return [f"r-2026010{d}-120000-000{d}" for d in range(1, 7)]


def build(root: Path) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    (root / "assay.toml").write_text(CONFIG, encoding="utf-8")
    db = connect(root / "assay.db")
    try:
        version = dataset(db, N, name="support", task_types=("billing", "technical"))
        strong = base_pattern(N, 0.86, seed=1)
        fast = base_pattern(N, 0.8, seed=2)
        ids = run_ids()
        for day, run_id in enumerate(ids, 1):
            s = flipped(strong, 3, 3, seed=day) if day > 1 else strong
            f = fast
            if day == 6:  # fast fails 30 more billing cases (even ids): a 10-point drop overall
                passing_billing = [i for i in range(0, N, 2) if f[i]][:30]
                f = [False if i in passing_billing else p for i, p in enumerate(f)]
            run(db, version, run_id, {"strong": s, "fast": f}, created_at=f"2026-01-0{day}T12:00:00Z")
        with write(db):
            for run_id in ids[3:]:
                db.execute("UPDATE results SET provider_model = 'strong-1-0125' WHERE run_id = ? AND model = 'strong'",
                           [run_id])
            for run_id in ids[:3]:
                db.execute("UPDATE results SET provider_model = 'strong-1-0101' WHERE run_id = ? AND model = 'strong'",
                           [run_id])
        set_baseline(db, ids[4], by="ana")
        check_run(db, ids[5], None, load_config(root / "assay.toml"), send=False)
        with write(db):  # a fixed time, for the snapshot
            db.execute("UPDATE regression_alerts SET created_at = '2026-01-06T12:30:00Z'")
    finally:
        db.close()
    return resolve(str(root), None)
