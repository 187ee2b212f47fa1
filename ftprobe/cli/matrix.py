"""``ftprobe matrix``: the cross-task matrix (fine-tune on A, probe X)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ftprobe.cli import options
from ftprobe.cli.output import fmt, table


@click.command(short_help="Cross-task matrix: fine-tune on A, probe X.")
@options.model()
@click.option("--finetune-on", default="", help="Comma list of tasks to fine-tune on (rows).")
@click.option(
    "--after",
    default="",
    metavar="MODELS",
    help="Comma list of encoders fine-tuned elsewhere (rows): hub ids, checkpoint folders or "
    "registered names sharing MODEL's tokenizer and layer count.",
)
@click.option("--probe-on", required=True, help="Comma list of tasks to probe (columns).")
@click.option("--probe", "-p", default=None, help="Probe name [default: the plugins' default].")
@options.probe_options
@options.layers("last")
@options.seed
@options.out("matrix__")
@options.subsets
@click.option("--max-cells", type=int, help="Stop after computing N new cells (rerun resumes).")
@click.option(
    "--controls",
    is_flag=True,
    help="Also probe each column's control task; cells show the selectivity.",
)
@options.executors
@options.encoding
@options.pooling
@options.finetuning
def matrix(
    model: str | None,
    finetune_on: str,
    after: str,
    probe_on: str,
    probe: str | None,
    probe_option: tuple[str, ...],
    layers: str,
    seed: int,
    out: Path | None,
    max_train: int | None,
    max_test: int | None,
    max_cells: int | None,
    controls: bool,
    executor: str | None,
    workers: int | None,
    executor_option: tuple[str, ...],
    device: str,
    batch_size: int,
    pooling: str | None,
    finetune: dict[str, Any],
) -> None:
    """Cross-task matrix: original and fine-tuned encoders (rows) × probed tasks (columns)."""
    from ftprobe.engine.extract import device_name
    from ftprobe.engine.probing import parse_options, split_options
    from ftprobe.pluginmanager import default_probe
    from ftprobe.report.plots import plot_matrix
    from ftprobe.sweeps.matrix import MatrixConfig, run_matrix

    device = device_name(device)
    model = options.resolve_model(model)
    probe = probe or default_probe("run", who="matrix")
    rows_on = options.comma_list(finetune_on)
    cfg = MatrixConfig(
        model=model,
        finetune_on=rows_on,
        probe_on=options.comma_list(probe_on),
        probe=probe,
        probe_options=split_options(parse_options(probe_option), [probe])[probe],
        finetune_options={"seed": seed, "device": device, **finetune},
        layer=layers,
        seed=seed,
        device=device,
        batch_size=batch_size,
        max_train=max_train,
        max_test=max_test,
        max_cells=max_cells,
        out=out,
        after=options.comma_list(after),
        pooling=pooling,
        controls=controls,
        executor=executor or "local",
        workers=workers or 1,
        executor_options=parse_options(executor_option, "--executor-option"),
    )
    record = run_matrix(cfg)
    plot_matrix(record, Path(record["config"]["out"]) / "matrix.png")
    md = record.get("min_distance_change")
    sel = record.get("selectivity")
    rows = []
    for i, row in enumerate(record["rows"]):
        line = [row]
        for j in range(len(record["cols"])):
            text = fmt(record["values"][i][j])
            if md and md[i][j]:
                text += f" (Δ {fmt(md[i][j]['mean_change'], '+.3f')})"
            if sel and sel[i][j] is not None:
                text += f" (sel {fmt(sel[i][j], '+.3f')})"
            line.append(text)
        rows.append(line)
    table(
        f"{model} · {probe} ({record['main_metric']}) · layer {layers}",
        ["encoder", *record["cols"]],
        rows,
    )
    state = "complete" if record["complete"] else "incomplete: rerun to resume"
    click.echo(f"results: {record['config']['out']} ({record['new_cells']} new cells, {state})")
    for cell in record["failed"]:
        click.echo(f"failed: {cell['id']}: {cell['error']}", err=True)
    if record["failed"]:
        sys.exit(1)
