"""``ftprobe similarity``: RSA, CKA, SVCCA, PWCCA, attention JS per layer, before vs after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ftprobe.cli import options
from ftprobe.cli.output import table


@click.command(short_help="RSA, CKA, CCA, attention JS per layer.")
@options.task("Task whose examples are compared.")
@options.model()
@click.option("--finetuned-on", help="Compare MODEL with MODEL fine-tuned on this task.")
@options.after("Compare MODEL with this encoder")
@click.option("--against", help="Compare MODEL with this encoder instead (same number of layers).")
@click.option(
    "--measure",
    "measures",
    help="Comma list of measures (default: every similarity measure; see `ftprobe probes`).",
)
@options.layers("all")
@click.option("--split", default="test", show_default=True, help="Split whose examples are used.")
@options.seed
@options.encoding
@click.option("--max-examples", type=int, help="Seeded subset of N examples (vector measures).")
@click.option(
    "--max-sentences",
    default=200,
    show_default=True,
    type=int,
    help="Seeded subset of N sentences (attention measures).",
)
@options.out("similarity__")
@options.pooling
@options.finetuning
def similarity(
    task: str,
    model: str | None,
    finetuned_on: str | None,
    after: str | None,
    against: str | None,
    measures: str | None,
    layers: str,
    split: str,
    seed: int,
    device: str,
    batch_size: int,
    max_examples: int | None,
    max_sentences: int,
    out: Path | None,
    pooling: str | None,
    finetune: dict[str, Any],
) -> None:
    """Layer × measure similarity of MODEL before vs after fine-tuning (or vs --against)."""
    from ftprobe.engine.extract import device_name
    from ftprobe.report.similarity_plots import plot_similarity
    from ftprobe.report.tables import similarity_rows
    from ftprobe.studies.similarity import similarity as run_similarity

    device = device_name(device)
    model = options.resolve_model(model)
    record = run_similarity(
        task,
        model,
        finetuned_on,
        options.comma_list(measures) or None,
        against=against,
        layers=layers,
        seed=seed,
        device=device,
        batch_size=batch_size,
        split=split,
        max_examples=max_examples,
        max_sentences=max_sentences,
        finetune_options=options.finetune_settings(finetune, seed, device, finetuned_on),
        out=out,
        after=after,
        pooling=pooling,
    )
    target = Path(record["config"]["out"])
    plot_similarity(target, record)
    cols, rows = similarity_rows(record)
    other = f"fine-tuned on {finetuned_on}" if finetuned_on else str(against or after)
    table(f"{task}/{split} · {model} vs {other}", cols, rows)
    for row in record["layers"]:
        for name, why in row["why_missing"].items():
            if row["layer"] != 0 or "no attention" not in why:
                click.echo(f"layer {row['layer']} {name}: {why}", err=True)
    click.echo(f"results: {target}")
