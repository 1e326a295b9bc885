"""Dataset commands: import, export, sample, datasets (list, snapshot, versions) and cases.

Thin: parse, call core, print. Data goes to stdout, messages to stderr; every untrusted string
(names, file names, case text) reaches the terminal through safe_text. Core modules are imported
inside the command bodies so `assay --help` stays fast and light.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from cli.context import echo_err, pass_ws
from core.workspace import Workspace
from cli.output import print_json, safe, table
from core.datasets.formats import EXTENSIONS, FIELDS, FILE_FORMATS, IMPORT_FORMATS, LOG_FORMATS
from core.common.safe_text import safe_text

# --- import -----------------------------------------------------------------------------------


def _import_promptfoo(ws: Workspace, args: tuple[str, ...], name: str | None, skip_unsupported: bool) -> None:
    from core.errors import UsageError

    if len(args) != 2:
        raise UsageError("usage: assay import promptfoo CONFIG.yaml [--name NAME] [--skip-unsupported]")
    try:
        from core.datasets.promptfoo.importer import run_import
    except ModuleNotFoundError as e:
        if e.name != "core.datasets.promptfoo.importer":
            raise
        raise UsageError("promptfoo import is not available") from None
    for line in run_import(ws, Path(args[1]), name, skip_unsupported):
        echo_err(safe(line))


@click.command("import")
@click.argument("args", nargs=-1, required=True, metavar="FILE | promptfoo CONFIG.yaml")
@click.option("--name", help="Dataset to create (or to add to, with --append).")
@click.option("--format", "fmt", type=click.Choice(IMPORT_FORMATS),
              help="File format (default: from the extension; inspect-ai and OpenAI-evals samples, OpenAI chat "
                   "and prompt-completion records are detected).")
@click.option("--map", "mapping", metavar="FIELD=NAME,...", multiple=True,
              help="Read a field from another key/column, e.g. input_text=prompt (repeatable).")
@click.option("--task-type", help="Task type for records that have none.")
@click.option("--append", is_flag=True, help="Add the cases to an existing dataset.")
@click.option("--skip-unsupported", is_flag=True, help="promptfoo: skip what cannot be imported instead of failing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ws
def import_cmd(
    ws: Workspace, args: tuple[str, ...], name: str | None, fmt: str | None, mapping: tuple[str, ...],
    task_type: str | None, append: bool, skip_unsupported: bool, as_json: bool,
) -> None:
    """Import a dataset file (JSON list, JSONL or CSV), all or nothing; or a promptfoo config.

    Fields: id, input_text, expected_output, task_type, difficulty, metadata, tags. Other keys and
    columns are kept in metadata. inspect-ai samples, OpenAI-evals samples and OpenAI chat records
    ({"messages": [...]}) are detected; a CSV separated by tabs or semicolons too. The dataset
    gets a new version after the import.
    """
    from core.errors import UsageError

    if args[0] == "promptfoo" and len(args) > 1:
        if fmt or mapping or task_type or append:
            raise UsageError("--format, --map, --task-type and --append do not apply to a promptfoo import")
        _import_promptfoo(ws, args, name, skip_unsupported)
        return
    if len(args) != 1:
        raise UsageError("expected one FILE (or: assay import promptfoo CONFIG.yaml)")
    if skip_unsupported:
        raise UsageError("--skip-unsupported only applies to `assay import promptfoo`")
    if not name:
        raise UsageError("--name is required: the dataset to create (or to add to, with --append)")
    from core.datasets.importing import import_file, parse_pairs

    result = import_file(ws.db(), args[0], name, fmt=fmt, mapping=parse_pairs(",".join(mapping), FIELDS, "--map"),
                         task_type=task_type, append=append, fork_ok=True)
    if as_json:
        print_json({
            "dataset": result.dataset, "format": result.format, "imported": result.imported,
            "labeled": result.labeled, "unlabeled": result.unlabeled, "version": result.version,
            "appended": result.appended,
        })
    verb = "appended" if result.appended else "imported"
    echo_err(f"{verb} {result.imported:,} cases into '{safe(result.dataset)}' "
             f"({result.labeled:,} labeled, {result.unlabeled:,} unlabeled) from {safe(args[0])} "
             f"as {result.format}; now at version {result.version}")


# --- export -----------------------------------------------------------------------------------


class _TerminalSafe:
    """Export text bound for a terminal goes through safe_text; files and pipes get the raw data."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(safe_text(text))


@click.command("export")
@click.argument("dataset")
@click.option("--format", "fmt", type=click.Choice(FILE_FORMATS),
              help="Output format (default: from -o's extension, else jsonl).")
@click.option("--version", "version", type=int, help="Export this version instead of the current cases.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file (default: stdout).")
@click.option("--overwrite", is_flag=True, help="Replace the -o file if it exists.")
@pass_ws
def export_cmd(
    ws: Workspace, dataset: str, fmt: str | None, version: int | None, output: str | None, overwrite: bool,
) -> None:
    """Export a dataset (its current cases and ground truth, or a version) as JSON, JSONL or CSV."""
    from core.datasets.export import export_dataset, export_to_file

    fmt = fmt or EXTENSIONS.get(Path(output or "").suffix.lower()) or "jsonl"
    required = _required_labels(ws)
    db = ws.db()
    if output is None:
        stdout = sys.stdout
        n = export_dataset(db, dataset, fmt, _TerminalSafe(stdout) if stdout.isatty() else stdout, version,
                           required=required)
        stdout.flush()
    else:
        n = export_to_file(db, dataset, fmt, output, version, required=required, overwrite=overwrite)
    which = f"version {version}" if version is not None else "current cases"
    echo_err(f"exported {n:,} cases of '{safe(dataset)}' ({which}) as {fmt}" + (f" to {safe(output)}" if output else ""))


# --- sample -----------------------------------------------------------------------------------


def _coverage_table(plan: Any) -> str:
    rows = [[safe(s.stratum, 40), *(f"{v:,}" for v in (s.seen, s.duplicates, s.available, s.quota, s.sampled, s.labeled))]
            for s in plan.strata]
    total = [sum(getattr(s, k) for s in plan.strata) for k in ("seen", "duplicates", "available", "quota", "sampled", "labeled")]
    rows.append(["total", *(f"{v:,}" for v in total)])
    headers = [plan.by, "seen", "duplicates", "available", "quota", "sampled", "labeled"]
    return table([safe(h, 40) for h in headers], rows, "lrrrrrr")


@click.command("sample")
@click.argument("logfile", type=click.Path(dir_okay=False))
@click.option("--size", type=int, default=300, show_default=True, help="Cases to sample.")
@click.option("--by", default="task_type", show_default=True, help="Stratify by this field or metadata key.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same sample.")
@click.option("--name", help="Dataset to create (required unless --dry-run).")
@click.option("--proportional", is_flag=True, help="Quotas proportional to each stratum (default: equal).")
@click.option("--field", "field_map", metavar="FIELD=NAME,...", multiple=True,
              help="Log keys for request_id, prompt, verified_output, task_type, difficulty, timestamp, "
                   "production_output; a dotted path reaches into nested objects (prompt=request.messages).")
@click.option("--format", "fmt", type=click.Choice(LOG_FORMATS), help="Log format (default: from the extension).")
@click.option("--dry-run", is_flag=True, help="Print the coverage, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the coverage report as JSON.")
@pass_ws
def sample_cmd(
    ws: Workspace, logfile: str, size: int, by: str, seed: int, name: str | None, proportional: bool,
    field_map: tuple[str, ...], fmt: str | None, dry_run: bool, as_json: bool,
) -> None:
    """Build an eval set from production logs: stratified, deduplicated, reproducible.

    JSONL, JSON-list or CSV records with a prompt key (see --field), or chat logs ({"messages": [...]}): the
    last user message is then the prompt and production's answer is kept in the metadata.

    \b
    assay sample logs.jsonl --size 300 --by task_type --name support
    assay sample gateway.jsonl --by properties.task --name support \\
        --field prompt=request.messages,production_output=response.choices.0.message.content"""
    from core.datasets.sampling import check_new_name, parse_fields, plan_sample, write_sample
    from core.errors import UsageError

    fields = parse_fields(",".join(field_map))
    if not dry_run:
        if not name:
            raise UsageError("--name is required (or use --dry-run to see the coverage only)")
        check_new_name(ws.db(), name)  # before reading the whole log
    plan = plan_sample(logfile, size=size, by=by, seed=seed, proportional=proportional, fields=fields, fmt=fmt)
    version = None if dry_run else write_sample(ws.db(), plan, name)
    echo_err(_coverage_table(plan))
    if as_json:
        report = plan.report()
        report.update(dataset=None if dry_run else name, version=version.version if version else None)
        print_json(report)
    if plan.sampled < size:
        echo_err(f"note: only {plan.available:,} distinct inputs were available; sampled {plan.sampled:,} of {size:,}")
    if version is None:
        echo_err(f"dry run: would sample {plan.sampled:,} cases (seed {seed}); nothing written")
    else:
        labeled = sum(s.labeled for s in plan.strata)
        echo_err(f"sampled {plan.sampled:,} cases into '{safe(name)}' ({labeled:,} labeled, "
                 f"{plan.sampled - labeled:,} unlabeled; seed {seed}); version {version.version}")


# --- datasets ---------------------------------------------------------------------------------


@click.group("datasets", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
def datasets_group(ctx: click.Context, as_json: bool) -> None:
    """List datasets with their counts; `snapshot` and `versions` manage versions."""
    if ctx.invoked_subcommand is not None:
        return
    from core.labeling.overview import summaries_with_labels

    ws = ctx.find_object(Workspace)
    # Labeled as everywhere else: ground truth decided by the label log counts, not only imported values.
    summaries = summaries_with_labels(ws.db(), _required_labels(ws))
    if as_json:
        print_json([s.as_dict() for s in summaries])
        return
    if not summaries:
        echo_err("no datasets yet; import one with `assay import FILE --name NAME`")
        return
    rows = []
    for s in summaries:
        tasks = ", ".join(f"{safe(t, 30)} {c.cases:,} ({c.labeled:,} labeled)" for t, c in s.task_types.items())
        rows.append([safe(s.name, 40), f"{s.cases:,}", f"{s.labeled:,}", f"{s.unlabeled:,}",
                     str(s.versions), tasks or "-"])
    click.echo(table(["name", "cases", "labeled", "unlabeled", "versions", "task types"], rows, "lrrrrl"))


def _required_labels(ws: Workspace) -> int:
    """How many agreeing labels make ground truth, from [labeling] in assay.toml."""
    from core.config.schema import load_config

    return load_config(ws.config_path).labeling.required_labels


@datasets_group.command("snapshot")
@click.argument("name")
@pass_ws
def snapshot_cmd(ws: Workspace, name: str) -> None:
    """Freeze the dataset's current cases and ground truth as a version (reused if unchanged)."""
    from core.datasets.browse import dataset_id
    from core.datasets.versions import take_snapshot

    db = ws.db()
    taken = take_snapshot(db, dataset_id(db, name), required=_required_labels(ws))
    state = "new version" if taken.created else "unchanged, same as version"
    v = taken.version
    echo_err(f"'{safe(name)}': {state} {v.version} ({v.n_cases:,} cases, {v.n_labeled:,} labeled)")


@datasets_group.command("versions")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the versions as JSON.")
@pass_ws
def versions_cmd(ws: Workspace, name: str, as_json: bool) -> None:
    """List a dataset's versions."""
    from core.datasets.browse import dataset_id
    from core.datasets.versions import list_versions

    db = ws.db()
    rows = list_versions(db, dataset_id(db, name))
    if as_json:
        print_json([v.model_dump() for v in rows])
        return
    click.echo(table(
        ["version", "created", "cases", "labeled", "reason", "hash"],
        [[str(v.version), v.created_at[:19].replace("T", " "), f"{v.n_cases:,}", f"{v.n_labeled:,}",
          safe(v.reason, 30), v.content_hash[:12]] for v in rows],
        "rlrrll",
    ))


# --- cases ------------------------------------------------------------------------------------


@click.command("cases")
@click.argument("dataset")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--after", type=int, default=-1, help="Show cases after this ORD (from the previous page).")
@click.option("--task-type")
@click.option("--difficulty", type=click.Choice(["easy", "medium", "hard"]))
@click.option("--labeled/--unlabeled", default=None,
              help="Only cases with (or without) ground truth: imported, or decided by the label log.")
@click.option("--search", help="Text in the input, id or expected output.")
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
@pass_ws
def cases_cmd(
    ws: Workspace, dataset: str, limit: int, after: int, task_type: str | None, difficulty: str | None,
    labeled: bool | None, search: str | None, as_json: bool,
) -> None:
    """Page through a dataset's cases in import order."""
    from core.datasets.browse import CaseFilter, dataset_id, page
    from core.datasets.ground_truth import derived_labels

    db = ws.db()
    ds_id = dataset_id(db, dataset)
    # Ground truth as everywhere else: the label log's decisions win over the imported value.
    truth = derived_labels(db, ds_id, required=_required_labels(ws))
    flt = CaseFilter(text=search, task_type=task_type, difficulty=difficulty, labeled=labeled,
                     labeled_ids=frozenset(truth))
    result = page(db, ds_id, after=after, limit=limit, flt=flt)

    def shown(c: Any) -> dict[str, Any]:
        case = c.as_case_dict()
        if c.case_id in truth:
            case["expected_output"] = truth[c.case_id]
        return case

    if as_json:
        print_json({
            "dataset": dataset, "next_after": result.next_after,
            "cases": [{"ord": c.ord, **shown(c)} for c in result.cases],
        })
    else:
        rows = [[str(c.ord), safe(c.case_id, 24), safe(c.task_type, 16), c.difficulty or "-",
                 "yes" if shown(c)["expected_output"] is not None else "no", safe(c.input_text, 60)]
                for c in result.cases]
        if rows:
            click.echo(table(["ord", "id", "task", "difficulty", "labeled", "input"], rows, "rlllll"))
        else:
            echo_err("no cases match")
    if result.next_after is not None:
        argv = ["assay", "cases", dataset]
        for opt, value in (("--limit", limit if limit != 50 else None), ("--task-type", task_type),
                           ("--difficulty", difficulty), ("--search", search)):
            if value is not None:
                argv += [opt, str(value)]
        if labeled is not None:
            argv.append("--labeled" if labeled else "--unlabeled")
        echo_err("next page: " + safe(shlex.join([*argv, "--after", str(result.next_after)])))


def register(cli: click.Group) -> None:
    for command in (import_cmd, export_cmd, sample_cmd, datasets_group, cases_cmd):
        cli.add_command(command)
