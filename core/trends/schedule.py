"""Eval cadence: ready-to-use cron lines and a GitHub Actions workflow (`assay schedule`).

The suite is `assay run --dataset D --models M --tag ... --baseline --alert`: the run is compared
with the pinned baseline when it finishes (pin one first: `assay baseline set RUN`), and exits 1
when a regression alert fires (0 when a drop is within noise), so cron mails the failure and the
workflow fails. The workflow keeps the history (the SQLite file) on its own branch so every run
adds to the same trends and sees the same baseline.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Re-run the production model monthly to catch drift; re-run weekly when a provider updates often.
WEEKLY = "0 6 * * 1"
MONTHLY = "0 6 1 * *"
HISTORY_BRANCH = "assay-history"


@dataclass(frozen=True, slots=True)
class Schedule:
    """What to run and when. `secrets`: environment variable names the models read their keys from."""

    dataset: str
    models: tuple[str, ...]
    workspace: Path
    cron: str = WEEKLY
    secrets: tuple[str, ...] = ()
    install: str = "pip install assay"


def run_command(s: Schedule, tags: Sequence[str]) -> str:
    """The one suite command both schedules run."""
    parts = ["assay", "run", "--dataset", s.dataset, "--models", ",".join(s.models)]
    for tag in tags:
        parts += ["--tag", tag]
    # GitHub substitutes ${{ ... }} before the shell runs, so quoting keeps those tags intact too.
    return " ".join(shlex.quote(p) for p in parts) + " --baseline --alert"


def cron_lines(s: Schedule) -> str:
    """crontab lines: the suite on `s.cron` and monthly (drift of the production model)."""
    ws = shlex.quote(str(s.workspace))
    log = shlex.quote(str(s.workspace / "assay-schedule.log"))
    lines = [
        "# assay: the eval suite on a schedule (install with `crontab -e`). Exit 1 = a regression alert;",
        "# cron mails the output of a failing job when MAILTO is set. Pin a baseline first:",
        "#   assay baseline set RUN_ID",
    ]
    if s.secrets:
        lines.append("# The models read " + ", ".join(s.secrets) + " from the environment: define them above these "
                     "lines (or source a file only you can read).")
    for when, why in ((s.cron, "scheduled"), (MONTHLY, "monthly-drift")):
        cmd = run_command(s, [f"trigger={why}"])
        lines.append(f"{when} cd {ws} && {cmd} >> {log} 2>&1")
    return "\n".join(lines) + "\n"


def github_workflow(s: Schedule) -> str:
    """.github/workflows/assay.yml: the suite on `s.cron` (and on demand), failing on an alert."""
    env = "".join(f"      {name}: ${{{{ secrets.{name} }}}}\n" for name in s.secrets)
    cmd = run_command(s, ["git=${{ github.sha }}", "trigger=${{ github.event_name }}"])
    ws = str(s.workspace) if not s.workspace.is_absolute() else "."
    return f"""# .github/workflows/assay.yml: the eval suite on a schedule; fails when a regression alert fires.
# History (assay.db: runs, trends, baselines, alerts) lives on the '{HISTORY_BRANCH}' branch so each run
# adds to the same trends. First time: run the suite once, `assay baseline set RUN_ID`, and push the
# database to that branch (git switch --orphan {HISTORY_BRANCH}; git add assay.db; git commit; git push).
name: assay eval
on:
  schedule:
    - cron: "{s.cron}"
  workflow_dispatch: {{}}
permissions:
  contents: write
concurrency:
  group: assay-eval
  cancel-in-progress: false
jobs:
  eval:
    runs-on: ubuntu-latest
    timeout-minutes: 120
    env:
      ASSAY_DB: ${{{{ github.workspace }}}}/history/assay.db
{env}    steps:
      - uses: actions/checkout@v4
      - uses: actions/checkout@v4
        with:
          ref: {HISTORY_BRANCH}
          path: history
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: {s.install}
      - name: Run the suite, compare with the baseline, fail on alerts
        working-directory: {ws}
        run: {cmd}
      - name: Keep the history
        if: always()
        working-directory: history
        run: |
          git config user.name "assay"
          git config user.email "assay@users.noreply.github.com"
          git add assay.db
          git commit -m "assay run ${{{{ github.sha }}}}" || echo "nothing to keep"
          git push origin HEAD:{HISTORY_BRANCH}
"""
