"""The ``ftprobe`` command line."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

import click

from ftprobe import __version__
from ftprobe.errors import FtprobeError


class FtprobeClickError(click.ClickException):
    """A user error: ``Error: <one line>`` on stderr, exit code 2."""

    exit_code = 2


class FtprobeGroup(click.Group):
    """Turns :class:`FtprobeError` anywhere below into one line and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FtprobeError as exc:
            raise FtprobeClickError(str(exc)) from None


@click.group(cls=FtprobeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ftprobe")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local corpus folder (default: $FTPROBE_DATA_DIR, else download).",
)
@click.option(
    "--models-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local model folders (default: $FTPROBE_MODELS_DIR).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Cache for vectors, checkpoints, downloads (default: $FTPROBE_CACHE_DIR).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def cli(
    data_dir: Path | None, models_dir: Path | None, cache_dir: Path | None, quiet: bool
) -> None:
    """ftprobe: what did fine-tuning do to my encoder?

    Probe an encoder's layers on a task with DirectProbe or a classifier, before and after
    fine-tuning. Tasks, encoders and probes are plugins: see `ftprobe plugins`.
    """
    import os

    from ftprobe import settings

    if quiet:
        os.environ["FTPROBE_QUIET"] = "1"
    settings.configure(data_dir=data_dir, models_dir=models_dir, cache_dir=cache_dir)


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2))


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:  # files and pipes get the whole table, not 80 columns
        console = Console(width=200)
    console.print(table)


# ------------------------------------------------------------------------ listings
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> None:
    """List every loaded plugin with its version and hooks."""
    from ftprobe.pluginmanager import plugin_infos

    infos = [info.as_dict() for info in plugin_infos()]
    if as_json:
        _echo_json(infos)
        return
    rows = [
        [i["name"], str(i["version"] or "-"), ", ".join(i["hooks"]) or str(i.get("error", ""))]
        for i in infos
    ]
    _table("ftprobe plugins", ["plugin", "version", "hooks"], rows)


def _spec_row(reg: Any, spec: Any, **extra: Any) -> dict[str, Any]:
    """One listing row of a registered record: name, the kind-specific fields, then the rest."""
    return {
        "name": spec.name,
        **extra,
        "aliases": list(spec.aliases),
        "plugin": reg.owner(spec.name),
        "description": spec.description,
    }


def _listing(
    rows: list[dict[str, Any]], as_json: bool, title: str, columns: dict[str, str]
) -> None:
    """Print ``rows`` as JSON or as a table of ``columns`` (header -> row key; lists joined)."""
    if as_json:
        _echo_json(rows)
        return

    def cell(value: Any) -> str:
        return ", ".join(value) if isinstance(value, list) else str(value)

    _table(title, list(columns), [[cell(r[key]) for key in columns.values()] for r in rows])


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def tasks(ctx: click.Context, as_json: bool) -> None:
    """List the tasks (`ftprobe tasks info NAME` for one task's data)."""
    if ctx.invoked_subcommand is not None:
        return
    from ftprobe.registry import tasks as task_registry

    reg = task_registry()
    rows = [_spec_row(reg, s, target=s.target, splits=list(s.splits)) for s in reg]
    columns = {
        "task": "name",
        "target": "target",
        "splits": "splits",
        "plugin": "plugin",
        "description": "description",
    }
    _listing(rows, as_json, "tasks", columns)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models(as_json: bool) -> None:
    """List the encoders (any Hugging Face id or local directory works too)."""
    from ftprobe.registry import encoders

    reg = encoders()
    rows = [_spec_row(reg, s, pattern=s.accepts is not None) for s in reg]
    columns = {
        "encoder": "name",
        "aliases": "aliases",
        "plugin": "plugin",
        "description": "description",
    }
    _listing(rows, as_json, "encoders", columns)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def probes(as_json: bool) -> None:
    """List the probes and similarity measures."""
    from ftprobe.api import ProbeSpec
    from ftprobe.registry import probes as probe_registry

    reg = probe_registry()
    rows = [
        _spec_row(reg, s, kind="probe" if isinstance(s, ProbeSpec) else "similarity") for s in reg
    ]
    columns = {
        "probe": "name",
        "kind": "kind",
        "aliases": "aliases",
        "plugin": "plugin",
        "description": "description",
    }
    _listing(rows, as_json, "probes", columns)


# ----------------------------------------------------------------------------- run
def parse_options(pairs: tuple[str, ...], flag: str = "--probe-option") -> dict[str, Any]:
    """``key=value`` pairs; values read as JSON numbers/booleans where they parse, else text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise FtprobeError(f"bad {flag} {pair!r}; write it as key=value")
        try:
            parsed: Any = json.loads(value)
            if isinstance(parsed, (dict, list)):
                parsed = value
        except json.JSONDecodeError:
            parsed = value
        out[key.strip().replace("-", "_")] = parsed
    return out


def finetune_options(**given: Any) -> dict[str, Any]:
    """Fine-tuning keyword arguments, dropping the ones left at None."""
    return {k: v for k, v in given.items() if v is not None}


@cli.command()
@click.option("--task", "-t", required=True, help="Task name (see `ftprobe tasks`).")
@click.option(
    "--model",
    "-m",
    default="minilm-l6",
    show_default=True,
    help="Encoder name, Hugging Face id or local directory.",
)
@click.option("--probe", "-p", default="directprobe", show_default=True, help="Probe name.")
@click.option(
    "--layer",
    "layers",
    default="last",
    show_default=True,
    help="last | all | N | comma list (0 = embeddings).",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory (default ftprobe-runs/<task>__<model>__<probe>...).",
)
@click.option(
    "--probe-option",
    "-o",
    "probe_option",
    multiple=True,
    metavar="KEY=VALUE",
    help="Option for the probe (repeatable), e.g. -o sizes=64x64.",
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, mps.")
@click.option(
    "--batch-size",
    default=64,
    show_default=True,
    type=int,
    help="Sentences per forward pass when encoding.",
)
@click.option("--finetuned-on", help="Probe the encoder fine-tuned on this task.")
@click.option("--epochs", type=int, help="Fine-tuning epochs (with --finetuned-on).")
@click.option("--lr", type=float, help="Fine-tuning learning rate (with --finetuned-on).")
@click.option("--ft-batch-size", type=int, help="Fine-tuning batch size (with --finetuned-on).")
@click.option(
    "--max-train-examples",
    type=int,
    help="Fine-tune on a seeded subset of N train examples (quick runs).",
)
def run(
    task: str,
    model: str,
    probe: str,
    layers: str,
    seed: int,
    out: Path | None,
    probe_option: tuple[str, ...],
    device: str,
    batch_size: int,
    finetuned_on: str | None,
    epochs: int | None,
    lr: float | None,
    ft_batch_size: int | None,
    max_train_examples: int | None,
) -> None:
    """Probe one encoder on one task, layer by layer, and write a run directory."""
    from ftprobe.pipeline import RunConfig
    from ftprobe.pipeline import run as run_pipeline

    ft = finetune_options(
        epochs=epochs, lr=lr, batch_size=ft_batch_size, max_examples=max_train_examples
    )
    if ft and not finetuned_on:
        raise FtprobeError("fine-tuning options need --finetuned-on TASK")
    if finetuned_on:
        ft.setdefault("seed", seed)
        ft.setdefault("device", device)
    config = RunConfig(
        task=task,
        model=model,
        probe=probe,
        layers=layers,
        seed=seed,
        probe_options=parse_options(probe_option),
        device=device,
        batch_size=batch_size,
        finetuned_on=finetuned_on,
        finetune_options=ft,
        out=out,
    )
    record = run_pipeline(config)
    rows = []
    for layer, metrics in record["layers"].items():
        main = metrics["main_metric"]
        extra = []
        for key in ("n_clusters", "linearly_separable", "accuracy_std", "majority_baseline"):
            if key in metrics:
                extra.append(f"{key}={_fmt(metrics[key])}")
        rows.append([layer, f"{main}={_fmt(metrics[main])}", " ".join(extra)])
    _table(
        f"{record['task']['name']} · {record['encoder']['name']} · {record['probe']}",
        ["layer", "main metric", "details"],
        rows,
    )
    click.echo(f"results: {record['config']['out']}")


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


# ------------------------------------------------------------------ more commands
def _add_commands() -> None:
    """Attach the core command modules in ftprobe/commands, then plugins' commands."""
    from ftprobe import commands
    from ftprobe.pluginmanager import get_plugin_manager

    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"ftprobe.commands.{mod.name}")
        module.add(cli)
    pm = get_plugin_manager()
    for impl in pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as exc:  # one broken plugin must not break the CLI
            name = pm.get_name(impl.plugin)
            print(f"ftprobe: plugin {name!r} failed to add commands: {exc}", file=sys.stderr)


_add_commands()


def main() -> None:
    cli(prog_name="ftprobe")


if __name__ == "__main__":  # pragma: no cover
    main()
