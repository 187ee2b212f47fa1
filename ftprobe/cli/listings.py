"""The listings: ``plugins``, ``tasks`` (and ``tasks info NAME``: what a task loads, split by
split), ``models`` and ``probes`` (with ``--options``)."""

from __future__ import annotations

import json
from typing import Any

import click

from ftprobe.cli.output import echo_json, listing
from ftprobe.datafiles import DataSource
from ftprobe.pluginmanager import Registry, encoders, measures, plugin_infos
from ftprobe.pluginmanager import probes as probe_registry
from ftprobe.pluginmanager import tasks as task_registry

TOP_LABELS = 10
JSON_FLAG = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.command(short_help="The loaded plugins, versions and hooks.")
@JSON_FLAG
def plugins(as_json: bool) -> None:
    """List every loaded plugin with its version and hooks."""
    infos = [info.as_dict() for info in plugin_infos()]
    if as_json:
        echo_json(infos)
        return
    rows = [
        {**i, "version": i["version"] or "-", "hooks": ", ".join(i["hooks"]) or i.get("error", "")}
        for i in infos
    ]
    listing(
        rows, False, "ftprobe plugins", {"plugin": "name", "version": "version", "hooks": "hooks"}
    )


def spec_row(reg: Registry[Any], spec: Any, **extra: Any) -> dict[str, Any]:
    """One listing row of a registered record: name, the kind-specific fields, then the rest."""
    return {
        "name": spec.name,
        **extra,
        "aliases": list(spec.aliases),
        "plugin": reg.owner(spec.name),
        "description": spec.description,
    }


@click.group(invoke_without_command=True, short_help="The tasks; `tasks info NAME` for one.")
@JSON_FLAG
@click.pass_context
def tasks(ctx: click.Context, as_json: bool) -> None:
    """List the tasks (`ftprobe tasks info NAME` for one task's data)."""
    if ctx.invoked_subcommand is not None:
        return
    reg = task_registry()
    rows = [spec_row(reg, s, target=s.target, splits=list(s.splits)) for s in reg]
    columns = {
        "task": "name",
        "target": "target",
        "splits": "splits",
        "plugin": "plugin",
        "description": "description",
    }
    listing(rows, as_json, "tasks", columns)


@click.command(short_help="The encoders.")
@JSON_FLAG
def models(as_json: bool) -> None:
    """List the encoders (any Hugging Face id or local directory works too)."""
    reg = encoders()
    rows = [spec_row(reg, s, pattern=s.accepts is not None, default=s.default) for s in reg]
    columns = {
        "encoder": "name",
        "aliases": "aliases",
        "plugin": "plugin",
        "description": "description",
    }
    listing(rows, as_json, "encoders", columns)


@click.command(short_help="The probes, their parts and options; the measures.")
@JSON_FLAG
@click.option("--options", "with_options", is_flag=True, help="Also list each probe's options.")
def probes(as_json: bool, with_options: bool) -> None:
    """List the probes (what each provides) and the similarity measures."""
    from ftprobe.engine.probing import declared_options

    reg, mreg = probe_registry(), measures()
    rows = [
        spec_row(reg, s, kind="probe", provides=list(s.provides), default_for=list(s.default_for))
        for s in reg
    ]
    if with_options:
        for row, spec in zip(rows, reg, strict=True):
            row["options"] = declared_options(spec)
    rows += [spec_row(mreg, s, kind="similarity", provides=[], default_for=[]) for s in mreg]
    if as_json or not with_options:
        columns = {
            "probe": "name",
            "kind": "kind",
            "provides": "provides",
            "aliases": "aliases",
            "plugin": "plugin",
            "description": "description",
        }
        listing(rows, as_json, "probes", columns)
        return
    option_rows = [
        {"probe": r["name"], **o, "default": json.dumps(o["default"], default=str)}
        for r in rows
        for o in r.get("options", [])
    ]
    columns = {
        "probe": "probe",
        "option": "name",
        "type": "type",
        "default": "default",
        "help": "help",
    }
    listing(option_rows, False, "probe options (-o [PROBE.]KEY=VALUE)", columns)


def task_info(name: str) -> dict[str, Any]:
    """Load task ``name`` and describe it: per split the sentence, example and label counts,
    the most frequent labels, the examples whose label is unseen in train, and the files."""
    reg = task_registry()
    spec = reg.get(name)
    data = spec.load(DataSource())
    known = set(data.labels)
    splits = {}
    for split_name, split in data.splits.items():
        counts = split.label_counts()
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_LABELS]
        splits[split_name] = {
            "sentences": split.n_sentences,
            "examples": len(split.examples),
            "labels": len(counts),
            "top_labels": [[label, n] for label, n in top],
            "unseen_labels": sorted(set(counts) - known),
            "unseen_examples": 0 if split_name == "train" else data.unseen(split_name),
            "files": [{"path": str(f.path), "sha256": f.sha256} for f in split.files],
            "rule": split.rule,
            "skipped": dict(split.skipped),
            "fingerprint": split.fingerprint(),
        }
    return {
        "task": spec.name,
        "description": spec.description,
        "target": spec.target,
        "aliases": list(spec.aliases),
        "plugin": reg.owner(name),
        "version": spec.version,
        "labels": data.labels,
        "splits": splits,
    }


def _print(info: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]{info['task']}[/bold] ({info['target']} target, plugin {info['plugin']}): "
        f"{info['description']}"
    )
    console.print(f"label inventory (from train): {len(info['labels'])} labels")
    table = Table(title="splits")
    for col in ("split", "sentences", "examples", "labels", "unseen in train"):
        table.add_column(col, justify="left" if col in ("split", "unseen in train") else "right")
    for name, s in info["splits"].items():
        unseen = "-" if name == "train" else str(s["unseen_examples"])
        if s["unseen_labels"]:
            unseen += f" ({', '.join(s['unseen_labels'])})"
        table.add_row(name, f"{s['sentences']:,}", f"{s['examples']:,}", str(s["labels"]), unseen)
    console.print(table)
    top = Table(title=f"{TOP_LABELS} most frequent labels")
    top.add_column("#", justify="right")
    for name in info["splits"]:
        top.add_column(name)
    for rank in range(max(len(s["top_labels"]) for s in info["splits"].values())):
        cells = []
        for s in info["splits"].values():
            pairs = s["top_labels"]
            cells.append(f"{pairs[rank][0]} {pairs[rank][1]:,}" if rank < len(pairs) else "")
        top.add_row(str(rank + 1), *cells)
    console.print(top)
    files = Table(title="data files")
    files.add_column("split")
    files.add_column("path", overflow="fold")
    files.add_column("sha256", overflow="fold")
    for name, s in info["splits"].items():
        for f in s["files"]:
            files.add_row(name, f["path"], f["sha256"])
    console.print(files)
    for name, s in info["splits"].items():
        if s["skipped"]:
            left = ", ".join(f"{n:,} {why}" for why, n in s["skipped"].items())
            console.print(f"{name}: left out {left}")
    rules = {s["rule"] for s in info["splits"].values() if s["rule"]}
    for rule in sorted(rules):
        console.print(f"split rule: {rule}")


@tasks.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info_cmd(name: str, as_json: bool) -> None:
    """Per split: sentences, examples, labels, the 10 most frequent labels, test/dev examples
    whose label is unseen in train, and the data files with their sha256."""
    info = task_info(name)
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        _print(info)
