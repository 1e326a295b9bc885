"""Import throughput and memory: a 1k- and a 100k-case JSONL, each imported into a fresh database;
then 300 cases sampled from the 100k file read as a production log.

Each run happens in its own subprocess so its peak RSS (ru_maxrss) is its own. Targets: the 100k
import well under 10 s, and its peak RSS within 100 MB of the 1k import's.

    .venv/bin/python bench/import_bench.py
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1_000, 100_000)
TASKS = ("qa", "classification", "summarization", "extraction")
WORDS = "the model should answer from the context only and cite its source when it can".split()


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
    import core.datasets.importing
    from core.datasets.importing import import_file
    from store import connect

    # Attribute time and memory to the streaming import vs the version snapshot taken at its end.
    marks: dict[str, float] = {}
    snapshot = core.datasets.importing.snapshot

    def timed_snapshot(*args, **kwargs):
        marks["snap_start"] = time.perf_counter()
        marks["pre_snap_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return snapshot(*args, **kwargs)

    core.datasets.importing.snapshot = timed_snapshot  # import_file calls it through the module global
    db = connect(db_path)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_start = time.process_time()
    start = time.perf_counter()
    result = import_file(db, jsonl, "bench")
    end = time.perf_counter()
    cpu = time.process_time() - cpu_start  # stable when other processes compete for the cores
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "rows": result.imported, "wall_s": end - start, "cpu_s": cpu, "snapshot_s": end - marks["snap_start"],
        "peak_kib": peak, "baseline_kib": rss_before, "pre_snapshot_kib": marks["pre_snap_kib"],
    }))


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


def main() -> int:
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            src = Path(tmp) / f"cases_{n}.jsonl"
            write_jsonl(src, n)
            fig = _run_child("--child", src, Path(tmp) / f"bench_{n}.db")
            fig["file_mb"] = src.stat().st_size / 1e6
            figures[n] = fig
            print(f"{n:>7,} cases ({fig['file_mb']:.1f} MB): {fig['wall_s']:6.2f} s wall, {fig['cpu_s']:.2f} s CPU "
                  f"(version snapshot {fig['snapshot_s']:.2f} s), {fig['rows'] / fig['wall_s']:>8,.0f} rows/s; "
                  f"peak RSS {fig['peak_kib'] / 1024:6.1f} MB (before import {fig['baseline_kib'] / 1024:.1f}, "
                  f"before snapshot {fig['pre_snapshot_kib'] / 1024:.1f})")
        sample = _run_child("--sample-child", src, Path(tmp) / "sample.db")
        print(f"sample 300 of {sample['rows']:,} log records (two passes): {sample['wall_s']:.2f} s, "
              f"peak RSS {sample['peak_kib'] / 1024:.1f} MB (before {sample['baseline_kib'] / 1024:.1f})")
    small, big = figures[SIZES[0]], figures[SIZES[-1]]
    diff_mb = (big["peak_kib"] - small["peak_kib"]) / 1024
    print(f"peak RSS difference 100k - 1k: {diff_mb:.1f} MB; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores")
    ok_time, ok_mem = big["wall_s"] < 10, diff_mb < 100
    print(f"targets: 100k under 10 s {'met' if ok_time else 'MISSED'}; RSS within 100 MB {'met' if ok_mem else 'MISSED'}")
    return 0 if ok_time and ok_mem else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "--sample-child":
        sample_child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
