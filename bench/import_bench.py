"""Import throughput and memory, measured against `sqlite-utils insert --nl` on the same file.

1. A 1k- and a 100k-case JSONL, each imported by `import_file` into a fresh database in its own
   subprocess, so its peak RSS (ru_maxrss) is its own: import-only wall and CPU, memory growth.
2. Alternating rounds on the 100k file, each tool a whole process (start-up included) writing a
   fresh database: `assay import` and `sqlite-utils insert --nl` (the CLI installed with Assay).
   Wall, CPU and peak RSS of each process come from wait4; the figures are medians over rounds.
3. 300 cases sampled from the 100k file read as a production log.

Targets: the 100k `assay import` at most 1.3x `sqlite-utils insert --nl` (median wall, same run);
the 100k import's peak RSS within 100 MB of the 1k import's.

    .venv/bin/python bench/import_bench.py            # --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SIZES = (1_000, 100_000)
TASKS = ("qa", "classification", "summarization", "extraction")
WORDS = "the model should answer from the context only and cite its source when it can".split()
RATIO_TARGET = 1.3


def write_jsonl(path: Path, n: int) -> None:
    rng = random.Random(n)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            record = {
                "id": f"case-{i}",
                "input_text": " ".join(rng.choices(WORDS, k=40)) + f" #{i}",
                "expected_output": None if i % 5 == 0 else " ".join(rng.choices(WORDS, k=8)),
                "task_type": TASKS[i % len(TASKS)],
                "difficulty": ("easy", "medium", "hard")[i % 3],
                "tags": ["bench"],
                "customer": f"cust-{i % 97}",
            }
            f.write(json.dumps(record) + "\n")


def child(jsonl: str, db_path: str) -> None:
    """Runs in the subprocess: import one file into a fresh database, print the figures as JSON."""
    sys.path.insert(0, str(ROOT))
    from core.datasets.importing import import_file
    from store import connect

    db = connect(db_path)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_start = time.process_time()
    start = time.perf_counter()
    result = import_file(db, jsonl, "bench")
    end = time.perf_counter()
    cpu = time.process_time() - cpu_start  # stable when other processes compete for the cores
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"rows": result.imported, "wall_s": end - start, "cpu_s": cpu,
                      "peak_kib": peak, "baseline_kib": rss_before}))


def sample_child(jsonl: str, db_path: str) -> None:
    """Runs in the subprocess: sample 300 cases from the file read as a production log."""
    sys.path.insert(0, str(ROOT))
    from core.datasets.sampling import plan_sample, write_sample
    from store import connect

    db = connect(db_path)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    fields = {"request_id": "id", "prompt": "input_text", "verified_output": "expected_output"}
    plan = plan_sample(jsonl, size=300, by="task_type", seed=7, fields=fields)
    write_sample(db, plan, "sampled")
    print(json.dumps({"rows": plan.seen, "sampled": plan.sampled, "wall_s": time.perf_counter() - start,
                      "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "baseline_kib": rss_before}))


def _run_child(mode: str, src: Path, db: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, mode, str(src), str(db)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@dataclass(frozen=True)
class Process:
    """One whole process as seen from outside."""

    wall_s: float
    cpu_s: float
    peak_mb: float


def _measure(cmd: list[str], log: Path) -> Process:
    """Run `cmd` to completion; its own wall, CPU (user + system) and peak RSS from wait4. The
    earlier runs' writes are flushed first, so their writeback does not land in this one's time."""
    os.sync()
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{log.read_text(errors='replace')}")
    return Process(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def compare(src: Path, tmp: Path, rounds: int) -> tuple[list[Process], list[Process]]:
    """(assay runs, sqlite-utils runs), alternating which goes first so drift hits both alike."""
    assay_runs: list[Process] = []
    su_runs: list[Process] = []
    for i in range(rounds):
        def assay() -> None:
            db = tmp / f"assay_{i}.db"
            assay_runs.append(_measure([str(BIN / "assay"), "--db", str(db), "import", str(src), "--name", "bench"],
                                       tmp / "assay.log"))

        def sqlite_utils() -> None:
            db = tmp / f"su_{i}.db"
            su_runs.append(_measure([str(BIN / "sqlite-utils"), "insert", str(db), "cases", str(src), "--nl"],
                                    tmp / "su.log"))

        for run in (assay, sqlite_utils) if i % 2 == 0 else (sqlite_utils, assay):
            run()
        for db in tmp.glob("*.db*"):  # ≈150 MB a round: not left for the next rounds' writeback
            db.unlink()
        a, s = assay_runs[-1], su_runs[-1]
        print(f"  round {i + 1}: assay import {a.wall_s:5.2f} s, sqlite-utils insert --nl {s.wall_s:5.2f} s "
              f"({a.wall_s / s.wall_s:.2f}x)")
    return assay_runs, su_runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the two tools")
    rounds = parser.parse_args().rounds
    figures = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for n in SIZES:
            src = tmp / f"cases_{n}.jsonl"
            write_jsonl(src, n)
            fig = _run_child("--child", src, tmp / f"bench_{n}.db")
            fig["file_mb"] = src.stat().st_size / 1e6
            figures[n] = fig
            print(f"{n:>7,} cases ({fig['file_mb']:.1f} MB), import_file: {fig['wall_s']:6.2f} s wall, "
                  f"{fig['cpu_s']:.2f} s CPU, {fig['rows'] / fig['wall_s']:>8,.0f} rows/s; "
                  f"peak RSS {fig['peak_kib'] / 1024:6.1f} MB (before import {fig['baseline_kib'] / 1024:.1f})")
        print(f"{SIZES[-1]:,} cases, whole process, {rounds} alternating rounds:")
        assay_runs, su_runs = compare(src, tmp, rounds)
        sample = _run_child("--sample-child", src, tmp / "sample.db")
    med = {name: Process(*(statistics.median(getattr(r, f) for r in runs) for f in ("wall_s", "cpu_s", "peak_mb")))
           for name, runs in (("assay import", assay_runs), ("sqlite-utils insert --nl", su_runs))}
    for name, p in med.items():
        print(f"  {name:26s} median {p.wall_s:6.2f} s wall, {p.cpu_s:5.2f} s CPU, peak RSS {p.peak_mb:6.1f} MB")
    assay, su = med["assay import"], med["sqlite-utils insert --nl"]
    ratio = assay.wall_s / su.wall_s
    # sqlite-utils commits every batch of 100 rows, so its wall time follows the disk's fsync
    # latency; the CPU ratio is the comparison that does not depend on the disk.
    print(f"  ratio assay / sqlite-utils: {ratio:.2f}x median wall, {assay.cpu_s / su.cpu_s:.2f}x median CPU")
    print(f"sample 300 of {sample['rows']:,} log records (two passes): {sample['wall_s']:.2f} s, "
          f"peak RSS {sample['peak_kib'] / 1024:.1f} MB (before {sample['baseline_kib'] / 1024:.1f})")
    small, big = figures[SIZES[0]], figures[SIZES[-1]]
    diff_mb = (big["peak_kib"] - small["peak_kib"]) / 1024
    print(f"peak RSS difference 100k - 1k: {diff_mb:.1f} MB; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores")
    ok_ratio, ok_mem = ratio <= RATIO_TARGET, diff_mb < 100
    print(f"targets: 100k import <= {RATIO_TARGET}x sqlite-utils {'met' if ok_ratio else 'MISSED'}; "
          f"RSS within 100 MB {'met' if ok_mem else 'MISSED'}")
    return 0 if ok_ratio and ok_mem else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "--sample-child":
        sample_child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
