"""``ftprobe run``: probe one encoder on one task, layer by layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ftprobe.cli import options
from ftprobe.cli.output import table


@click.command()
@options.task()
@options.model()
@click.option("--probe", "-p", default=None, help="Probe name [default: the plugins' default].")
@options.layers("last")
@options.seed
@options.out("<task>__<model>__<probe>__...__<hash>")
@options.probe_options
@options.encoding
@click.option("--finetuned-on", help="Probe the encoder fine-tuned on this task.")
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
    finetune: dict[str, Any],
    max_train: int | None,
    max_test: int | None,
    overwrite: bool,
) -> None:
    """Probe one encoder on one task, layer by layer, and write a run directory."""
    from ftprobe.engine.extract import device_name
    from ftprobe.engine.probing import parse_options, split_options
    from ftprobe.pluginmanager import default_probe
    from ftprobe.report.tables import run_rows
    from ftprobe.studies.run import RunConfig, run_with_results

    device = device_name(device)
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
        max_train=max_train,
        max_test=max_test,
        overwrite=overwrite,
    )
    record, results = run_with_results(config)
    title = f"{record['task']['name']} · {record['encoder']['name']} · {record['probe']}"
    table(title, ["layer", "main metric", "details"], run_rows(record, results))
    click.echo(f"results: {record['config']['out']}")
