"""The noise floor measured end to end: runs with --repeat 4 against the in-process demo server told
to flip a known share of its answers (demo.serve.flips), then core.trends.noise on the stored
verdicts. Each answer is wrong with probability f independently, on cases the model otherwise gets
right, so the share of cases whose 4 repeats disagree is 1 - (1-f)^4 - f^4 and two repeats disagree
with probability 2f(1-f)."""

from __future__ import annotations

import httpx
import pytest
from click.testing import CliRunner
from runner_helpers import config, run_engine

from cli.main import cli
from core.common.stats import wilson_interval
from core.trends.noise import noise_report
from demo.serve.flips import DONT_KNOW, Flipper, wrong_answer
from store import connect, write
from store import datasets as store_ds

pytestmark = pytest.mark.usefixtures("clean_srv")

N, K = 100, 4
Z999 = 3.29  # a 99.9% interval: the tolerance of a figure measured on N cases


@pytest.fixture(autouse=True)
def no_flips_after(srv):
    yield
    srv.configure(flip_rate=0)


def _dataset(db_path) -> None:
    """N cases demo-strong answers right: an unknown input gets its first sentence back."""
    db = connect(db_path)
    with write(db):
        ds = store_ds.create_dataset(db, "d")
        store_ds.insert_cases(db, ds, [{"id": f"c{i:03d}", "input_text": f"Token {i}",
                                        "expected_output": f"Token {i}."} for i in range(N)])
    db.close()


def _noise(srv, tmp_path, flip_rate: float):
    db_path = tmp_path / "assay.db"
    _dataset(db_path)
    srv.configure(flip_rate=flip_rate, seed=7)
    fin = run_engine(db_path, config(srv.base_url), ["strong"], repeat=K, use_cache=False)
    assert fin.status == "finished" and fin.ok == N * K
    db = connect(db_path)
    try:
        return noise_report(db, fin.run_id).figures("strong")
    finally:
        db.close()


def test_flip_rate_0_2_gives_the_theoretical_flip_share(srv, tmp_path):
    f = 0.2
    s = _noise(srv, tmp_path, f)
    assert (s.cases, s.ungraded, s.cases_too_few) == (N, 0, 0)
    share = 1 - (1 - f) ** K - f ** K  # 0.5888
    low, high = wilson_interval(s.flipped_cases, N, z=Z999)
    assert low <= share <= high, (s.flip_share, share)
    # Discordance: per case 2p(4-p)/12 for p passes; its sampling SD over N cases is about 0.025.
    assert s.discordance == pytest.approx(2 * f * (1 - f), abs=0.08)
    assert s.score_sd is not None and s.score_sd > 0
    assert srv.stats()["by_model"]["demo-strong"] == N * K


def test_flip_rate_0_gives_no_flips(srv, tmp_path):
    s = _noise(srv, tmp_path, 0.0)
    assert (s.cases, s.flipped_cases, s.flip_share, s.discordance, s.score_sd) == (N, 0, 0.0, 0.0, 0.0)


def test_flips_are_deterministic_per_request_and_occurrence():
    messages = [{"role": "user", "content": "Token 1"}]
    first, again = Flipper(), Flipper()
    draws = [first.flips(0.5, 3, "demo-strong", messages) for _ in range(200)]
    assert draws == [again.flips(0.5, 3, "demo-strong", messages) for _ in range(200)]
    assert 60 < sum(draws) < 140  # occurrences draw independently
    assert not any(Flipper().flips(0.0, 3, "demo-strong", messages) for _ in range(50))
    assert all(Flipper().flips(1.0, 3, "demo-strong", messages) for _ in range(50))


def test_a_flipped_answer_is_wrong_and_well_formed():
    labels = "Valid labels: billing, technical, account, cancellation, other."
    assert wrong_answer("billing", labels) == "technical"
    assert wrong_answer("Category: Other", labels) == "billing"
    assert wrong_answer("no idea", labels) == "no idea"
    assert wrong_answer('{"pass": true, "score": 0.75, "reason": "ok"}', "judge") == \
        '{"pass": false, "score": 0.25, "reason": "ok"}'
    assert wrong_answer('```json\n{"party_a": "Acme", "amount": 10}\n```', "json") == \
        '{"party_a": "unknown", "amount": "unknown"}'
    assert wrong_answer("30 days", "question") == DONT_KNOW


def test_flip_rate_is_validated_and_reported(srv):
    assert srv.configure(flip_rate=0.25)["flip_rate"] == 0.25
    for bad in (-0.1, 1.5, "x", True):
        with pytest.raises(ValueError, match="flip_rate"):
            srv.configure(flip_rate=bad)
    root = srv.base_url.removesuffix("/v1")
    assert httpx.post(root + "/_assay/config", json={"flip_rate": 0.1}).json()["flip_rate"] == 0.1
    assert httpx.post(root + "/_assay/config", json={"flip_rate": 2}).status_code == 400
    p = CliRunner().invoke(cli, ["serve", "--flip-rate", "1.5"])
    assert p.exit_code == 2 and "--flip-rate" in p.output
