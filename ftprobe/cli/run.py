"""``ftprobe run``: probe one encoder on one task, layer by layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ftprobe.cli import options
from ftprobe.cli.output import table
from ftprobe.errors import FtprobeError


@click.command(short_help="Probe one encoder on one task, per layer.")
@options.task()
@options.model()
@click.option("--probe", "-p", default=None, help="Probe name [default: the plugins' default].")
@options.layers("last")
@options.seed
@options.out("<task>__<model>__<probe>__...__<hash>")
@options.probe_options
@options.encoding
@click.option("--finetuned-on", help="Probe the encoder fine-tuned on this task.")
@options.after("Probe this encoder instead")
@options.pooling
@click.option(
    "--controls",
    is_flag=True,
    help="Also run the probe on the task's control task (Hewitt & Liang) and report "
    "selectivity (task minus control accuracy) per layer.",
)
@options.finetuning
@options.subsets
@click.option("--overwrite", is_flag=True, help="Recompute layers already done in the run dir.")
def run(
    task: str,
    model: str | None,
    probe: str | None,
    layers: str,
    seed: int,
    out: Path | None,
    probe_option: tuple[str, ...],
    device: str,
    batch_size: int,
    finetuned_on: str | None,
    after: str | None,
    pooling: str | None,
    controls: bool,
    finetune: dict[str, Any],
    max_train: int | None,
    max_test: int | None,
    overwrite: bool,
) -> None:
    """Probe one encoder on one task, layer by layer, and write a run directory."""
    from ftprobe.engine.extract import device_name
    from ftprobe.engine.probing import parse_options, split_options
    from ftprobe.pluginmanager import default_probe
    from ftprobe.report.plots import plot_selectivity
    from ftprobe.report.tables import run_rows, selectivity_rows
    from ftprobe.studies.run import RunConfig, run_with_controls, run_with_results

    device = device_name(device)
    if after and finetuned_on:
        raise FtprobeError("give either --finetuned-on TASK or --after MODEL, not both")
    probe = probe or default_probe("run", who="run")
    config = RunConfig(
        task=task,
        model=options.resolve_model(model),
        probe=probe,
        layers=layers,
        seed=seed,
        probe_options=split_options(parse_options(probe_option), [probe])[probe],
        device=device,
        batch_size=batch_size,
        finetuned_on=finetuned_on,
        finetune_options=options.finetune_settings(finetune, seed, device, finetuned_on),
        out=out,
        after=after,
        pooling=pooling,
        max_train=max_train,
        max_test=max_test,
        overwrite=overwrite,
    )
    if controls:
        sel = run_with_controls(config)
        target = Path(sel["runs"]["task"])
        plot_selectivity(sel, target / "selectivity.png")
        cols, rows = selectivity_rows(sel)
        table(f"{sel['task']} vs {sel['control']} · {sel['encoder']} · {probe}", cols, rows)
        click.echo(f"results: {target} (control: {sel['runs']['control']})")
        return
    record, results = run_with_results(config)
    title = f"{record['task']['name']} · {record['encoder']['name']} · {record['probe']}"
    table(title, ["layer", "main metric", "details"], run_rows(record, results))
    click.echo(f"results: {record['config']['out']}")
