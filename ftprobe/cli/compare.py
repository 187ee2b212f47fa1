"""``ftprobe compare``: before vs after fine-tuning, per layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ftprobe.cli import options
from ftprobe.cli.output import table
from ftprobe.errors import FtprobeError


@click.command(short_help="Before vs after fine-tuning, per layer.")
@options.task("Task to probe.")
@options.model()
@click.option("--finetuned-on", help="Task the encoder is fine-tuned on.")
@options.after()
@options.layers("last")
@options.seed
@options.out("compare__")
@click.option("--accuracy-probe", help="Probe providing accuracy [default: the plugins' default].")
@click.option("--geometry-probe", help="Probe providing geometry [default: the plugins' default].")
@options.probe_options
@options.subsets
@click.option(
    "--checkpoints",
    is_flag=True,
    help="Also probe every --save-every checkpoint (dynamics plots).",
)
@click.option(
    "--controls",
    is_flag=True,
    help="Also probe the task's control task (TASK:control@SEED) before and after; "
    "reports control accuracy, selectivity and the control's clusters.",
)
@options.encoding
@options.pooling
@options.finetuning
def compare(
    task: str,
    model: str | None,
    finetuned_on: str | None,
    after: str | None,
    layers: str,
    seed: int,
    out: Path | None,
    accuracy_probe: str | None,
    geometry_probe: str | None,
    probe_option: tuple[str, ...],
    max_train: int | None,
    max_test: int | None,
    checkpoints: bool,
    controls: bool,
    device: str,
    batch_size: int,
    pooling: str | None,
    finetune: dict[str, Any],
) -> None:
    """Before vs after fine-tuning, per layer: accuracy, clusters, distances, similarity.

    The after encoder is MODEL fine-tuned on --finetuned-on TASK, or --after MODEL2 (a
    checkpoint fine-tuned elsewhere)."""
    from ftprobe.engine.extract import device_name
    from ftprobe.engine.probing import parse_options, split_options
    from ftprobe.report.plots import plot_compare, plot_dynamics
    from ftprobe.report.tables import compare_control_rows, compare_rows
    from ftprobe.studies.compare import CompareConfig
    from ftprobe.studies.compare import compare as run_compare
    from ftprobe.studies.dynamics import dynamics

    device = device_name(device)
    model = options.resolve_model(model)
    if (finetuned_on is None) == (after is None):
        raise FtprobeError("give exactly one of --finetuned-on TASK or --after MODEL")
    cfg = CompareConfig(
        task=task,
        model=model,
        finetuned_on=finetuned_on,
        layers=layers,
        seed=seed,
        device=device,
        batch_size=batch_size,
        accuracy_probe=accuracy_probe or "",
        geometry_probe=geometry_probe or "",
        finetune_options=options.finetune_settings(finetune, seed, device, finetuned_on),
        max_train=max_train,
        max_test=max_test,
        out=out,
        after=after,
        pooling=pooling,
        controls=controls,
    ).resolved()
    names = list(dict.fromkeys([cfg.accuracy_probe, cfg.geometry_probe]))
    cfg.probe_options = split_options(parse_options(probe_option), names)
    if checkpoints and not cfg.finetune_options.get("save_every"):
        raise FtprobeError("--checkpoints needs --save-every N (steps between checkpoints)")
    record = run_compare(cfg)
    target = Path(record["config"]["out"])
    plot_compare(record, target / "compare.png")
    cols, rows = compare_rows(record)
    table(f"{task} · {model} · before vs after ({cfg.after_label})", cols, rows)
    if record.get("controls"):
        cols, rows = compare_control_rows(record)
        table(
            f"control task {record['controls']['task']} · selectivity = task - control", cols, rows
        )
    if checkpoints:
        plot_dynamics(dynamics(cfg, target), target)
    click.echo(f"results: {target}")
