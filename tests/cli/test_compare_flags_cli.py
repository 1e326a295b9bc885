"""`assay compare` shows the trust flags next to each series (core.trends.flags): a difference below
the noise floor, an uncalibrated judge, a model the dataset's contamination probe suspects; in
the table, markdown and JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from scoring_fixtures import new_db  # noqa: E402
from test_trust_flags import judged, probe  # noqa: E402
from trends_fixtures import base_pattern, dataset, flipped, run  # noqa: E402

from cli.main import cli  # noqa: E402


@pytest.fixture
def ws(tmp_path):
    db = new_db(tmp_path)
    v = dataset(db, 300)
    base = base_pattern(300, 0.85, seed=1)
    run(db, v, "r-base", {"noisy": base, "worse": base})
    # noisy: -3 +2 (-0.3 pts, far below its MDD); worse: 30 newly failing (-10 pts, above it).
    run(db, v, "r-cand", {"noisy": flipped(base, 3, 2, seed=2), "worse": flipped(base, 30, 0, seed=3)})
    judged(db, "r-cand", "noisy")
    probe(db, "ds", {"worse": 12, "noisy": 0})
    db.close()
    return tmp_path


def assay(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["-w", str(ws), *args], env={
        "ASSAY_DB": None, "USER": "tester", "ASSAY_USER_CONFIG": str(ws / "no-user-config.toml")})


def test_table_shows_flags_next_to_the_series(ws):
    p = assay(ws, "compare", "r-base", "r-cand")
    assert p.exit_code == 0, p.output
    lines = p.stdout.splitlines()
    assert lines[2].split()[-1] == "flags"
    noisy = next(line for line in lines if line.startswith("noisy "))
    worse = next(line for line in lines if line.startswith("worse "))
    assert noisy.endswith("uncalibrated judge, below noise floor")
    assert worse.endswith("contaminated?")
    assert ("ds / noisy / (all): flag: uncalibrated judge judge-x (rubric): only 0 expert-graded output(s), "
            "need 30") in lines
    mdd = next(line for line in lines if line.startswith("ds / noisy / (all): flag: below the noise floor (MDD "))
    assert mdd.endswith(" pts)")
    assert any(line.startswith("ds / worse / (all): flag: worse contaminated? probe p-") for line in lines)
    assert not any(line.startswith("ds / worse / (all): flag: below") for line in lines)


def test_markdown_and_json_carry_the_flags(ws):
    md = assay(ws, "compare", "r-base", "r-cand", "--format", "markdown").stdout
    assert "| flags |" in md.splitlines()[4] and "## Flags" in md
    assert "- **ds / worse / (all)**: worse contaminated? probe p-" in md

    data = json.loads(assay(ws, "compare", "r-base", "r-cand", "--format", "json").stdout)
    noisy, worse = data["series"]
    assert noisy["flags"]["noise_floor"]["kind"] == "below_noise_floor"
    assert noisy["flags"]["noise_floor"]["mdd"] == pytest.approx(noisy["mdd"])
    assert [j["judge_model"] for j in noisy["flags"]["uncalibrated_judges"]] == ["judge-x"]
    assert noisy["flags"]["contamination"] == []
    assert worse["flags"]["noise_floor"] is None
    (c,) = worse["flags"]["contamination"]
    assert (c["model"], c["flagged_share"], c["control_share"], c["kind"]) == ("worse", 1.0, 0.0, "contaminated")
