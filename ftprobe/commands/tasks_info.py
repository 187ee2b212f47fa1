"""``ftprobe tasks info NAME [--json]``: what a task loads, split by split."""

from __future__ import annotations

import json
from typing import Any

import click

TOP_LABELS = 10


def task_info(name: str) -> dict[str, Any]:
    """Load task ``name`` and describe it: per split the sentence, example and label counts,
    the most frequent labels, the examples whose label is unseen in train, and the files."""
    from ftprobe.datafiles import DataSource
    from ftprobe.registry import tasks

    reg = tasks()
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
            "fingerprint": split.fingerprint(),
        }
    return {
        "task": spec.name,
        "description": spec.description,
        "target": spec.target,
        "aliases": list(spec.aliases),
        "plugin": reg.owner(spec.name),
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
    rules = {s["rule"] for s in info["splits"].values() if s["rule"]}
    for rule in sorted(rules):
        console.print(f"split rule: {rule}")


@click.command("info")
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


def add(cli: click.Group) -> None:
    group = cli.commands.get("tasks")
    if not isinstance(group, click.Group):
        raise RuntimeError("ftprobe.commands.tasks_info needs the `tasks` command group in cli")
    group.add_command(info_cmd)
