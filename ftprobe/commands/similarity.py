"""Command ``similarity``: RSA, CKA, SVCCA, PWCCA, attention JS per layer, before vs after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def add(cli: click.Group) -> None:
    @cli.command()
    @click.option("--task", "-t", required=True, help="Task whose examples are compared.")
    @click.option(
        "--model",
        "-m",
        default="minilm-l6",
        show_default=True,
        help="Encoder name, Hugging Face id or local directory.",
    )
    @click.option("--finetuned-on", help="Compare MODEL with MODEL fine-tuned on this task.")
    @click.option(
        "--against", help="Compare MODEL with this encoder instead (same number of layers)."
    )
    @click.option(
        "--measure",
        "measures",
        help="Comma list of measures (default: every similarity measure; see `ftprobe probes`).",
    )
    @click.option(
        "--layers",
        "--layer",
        "layers",
        default="all",
        show_default=True,
        help="all | last | N | comma list (0 = embeddings).",
    )
    @click.option(
        "--split", default="test", show_default=True, help="Split whose examples are used."
    )
    @click.option("--seed", default=0, show_default=True, type=int)
    @click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, mps.")
    @click.option(
        "--batch-size",
        default=64,
        show_default=True,
        type=int,
        help="Sentences per forward pass when encoding.",
    )
    @click.option("--max-examples", type=int, help="Seeded subset of N examples (vector measures).")
    @click.option(
        "--max-sentences",
        default=200,
        show_default=True,
        type=int,
        help="Seeded subset of N sentences (attention measures).",
    )
    @click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        help="Output folder (default ftprobe-runs/similarity__...).",
    )
    @click.option("--epochs", type=int, help="Fine-tuning epochs (with --finetuned-on).")
    @click.option("--lr", type=float, help="Fine-tuning learning rate (with --finetuned-on).")
    @click.option("--ft-batch-size", type=int, help="Fine-tuning batch size (with --finetuned-on).")
    @click.option("--warmup", type=float, help="Fine-tuning warm-up fraction (default 0.1).")
    @click.option(
        "--max-train-examples",
        type=int,
        help="Fine-tune on a seeded subset of N train examples (quick runs).",
    )
    def similarity(
        task: str,
        model: str,
        finetuned_on: str | None,
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
        **ft: Any,
    ) -> None:
        """Layer × measure similarity of MODEL before vs after fine-tuning (or vs --against)."""
        from ftprobe.cli import _table
        from ftprobe.errors import FtprobeError
        from ftprobe.similarity import similarity as run_similarity
        from ftprobe.similarity import table_rows

        ren = {"ft_batch_size": "batch_size", "max_train_examples": "max_examples"}
        ft_options = {ren.get(k, k): v for k, v in ft.items() if v is not None}
        if ft_options and not finetuned_on:
            raise FtprobeError("fine-tuning options need --finetuned-on TASK")
        if finetuned_on:
            ft_options.setdefault("seed", seed)
            ft_options.setdefault("device", device)
        names = [m.strip() for m in measures.split(",") if m.strip()] if measures else None
        record = run_similarity(
            task,
            model,
            finetuned_on,
            names,
            against=against,
            layers=layers,
            seed=seed,
            device=device,
            batch_size=batch_size,
            split=split,
            max_examples=max_examples,
            max_sentences=max_sentences,
            finetune_options=ft_options,
            out=out,
        )
        cols, rows = table_rows(record)
        other = f"fine-tuned on {finetuned_on}" if finetuned_on else str(against)
        _table(f"{task}/{split} · {model} vs {other}", cols, rows)
        for row in record["layers"]:
            for name, why in row["why_missing"].items():
                if row["layer"] != 0 or "no attention" not in why:
                    click.echo(f"layer {row['layer']} {name}: {why}", err=True)
        click.echo(f"results: {record['config']['out']}")
