"""Judge calibration through the Label screen, as an expert does it: a run graded by demo-judge,
`judge-sample` queues its outputs, the expert presses p / x on the Label screen, and calibration
counts exactly those grades against the judge's verdicts (tests/reliability has the statistics)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from tui_helpers import label_ready, make_app, press_and_render

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
from runner_helpers import make_dataset, run_engine  # noqa: E402

from core.config.schema import load_config  # noqa: E402
from core.labeling.calibration import SAMPLE_KEY, calibrate, grades_dataset_name  # noqa: E402
from core.labeling.judge_sample import sample_for_grading  # noqa: E402
from core.workspace import resolve  # noqa: E402
from demo.serve import DemoServer  # noqa: E402
from store import connect  # noqa: E402

N = 12
RUBRIC = "Sum in " + " ".join(str(i) for i in range(0, N, 4))  # the demo judge passes i % 4 == 0


@pytest.fixture
def judged(tmp_path):
    srv = DemoServer(latency_ms=0, latency_scale=0)
    srv.start()
    try:
        root = tmp_path / "ws"
        root.mkdir()
        (root / "assay.toml").write_text(
            f'[models.strong]\nmodel = "openai/demo-strong"\napi_base = "{srv.base_url}"\n'
            f'[models.judge]\nmodel = "openai/demo-judge"\napi_base = "{srv.base_url}"\n'
            f'[judge]\nmodel = "judge"\n'
            f'[scorers.generation]\ntype = "llm-rubric"\nvalue = "{RUBRIC}"\n', encoding="utf-8")
        make_dataset(root / "assay.db", N, labeled=False)
        cfg = load_config(root / "assay.toml")
        run_id = run_engine(root / "assay.db", cfg, ["strong"]).run_id
    finally:
        srv.stop()
    db = connect(root / "assay.db")
    sample = sample_for_grading(db, cfg, root / "assay.toml", run_id, size=6, seed=3)
    db.close()
    assert sample.added == 6 and sample.config_updated  # [tasks.judge-grade] written for the Label screen
    return resolve(str(root), None), run_id


def test_grades_pressed_on_the_label_screen_calibrate_the_judge(judged):
    ws, run_id = judged
    grades = grades_dataset_name("d")
    expert: dict[int, bool] = {}

    async def run() -> None:
        app = make_app(ws, start="label", dataset=grades)
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await label_ready(app)
            for _ in range(6):
                case = screen._view.case  # the case on screen
                i = int(case.metadata[SAMPLE_KEY]["case_id"][1:])
                verdict = i % 8 == 0  # the expert agrees with the judge on 0 and 8, not on 4
                expert[i] = verdict
                await press_and_render(pilot, "p" if verdict else "x")

    asyncio.run(run())
    db = connect(ws.db_path)
    report = calibrate(db, load_config(ws.config_path), run_id)
    db.close()
    (judge,) = report.judges
    judge_pass = {i: i % 4 == 0 for i in expert}
    c = judge.confusion
    assert judge.graded == 6 == len(expert)
    assert (c.expert_pass_judge_pass, c.expert_pass_judge_fail, c.expert_fail_judge_pass, c.expert_fail_judge_fail) == (
        sum(expert[i] and judge_pass[i] for i in expert), sum(expert[i] and not judge_pass[i] for i in expert),
        sum(not expert[i] and judge_pass[i] for i in expert), sum(not expert[i] and not judge_pass[i] for i in expert))
    assert not judge.calibrated and any("30" in r for r in judge.reasons)  # 6 grades < min_graded
