"""Contamination probe figures on the demo. A plain script: it prints what it measured.

    .venv/bin/python bench/contamination_bench.py [--latency-scale 0]

Starts the demo server in-process, builds the demo workspace in a temporary folder, adds
`[models.memo]` (demo-memo: it has memorised the first half of the support-tickets and faq cases)
next to the workspace's candidates, and runs `assay probe contamination` (the CLI, in-process) on
each demo dataset with the default split and threshold. Prints each command's table and its time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from click.testing import CliRunner  # noqa: E402

from cli.main import cli  # noqa: E402
from demo import DATASETS  # noqa: E402
from demo.serve import DemoServer  # noqa: E402
from demo.workspace import CANDIDATE_MODELS, build_demo_workspace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-scale", type=float, default=1.0, help="The demo models' latency multiplier.")
    args = parser.parse_args()
    models = ",".join(("memo", *CANDIDATE_MODELS))
    with tempfile.TemporaryDirectory() as tmp, DemoServer(latency_ms=0, latency_scale=args.latency_scale) as srv:
        root = Path(tmp) / "ws"
        build_demo_workspace(root, srv.base_url, fresh=True, history=False)
        config = root / "assay.toml"
        config.write_text(config.read_text() + f'\n[models.memo]\nmodel = "openai/demo-memo"\n'
                                                f'api_base = "{srv.base_url}"\n')
        for dataset in DATASETS:
            argv = ["probe", "contamination", "-d", dataset, "-m", models]
            t0 = time.perf_counter()
            result = CliRunner().invoke(cli, ["-w", str(root), *argv], env={"ASSAY_DB": None})
            elapsed = time.perf_counter() - t0
            print(f"$ assay {' '.join(argv)}   # {elapsed:.1f} s, exit {result.exit_code}")
            print(result.stdout.split("\n\nworst cases")[0])  # the per-model table; worst cases left out
            print()


if __name__ == "__main__":
    main()
