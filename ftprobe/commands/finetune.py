"""Commands ``finetune``, ``compare``, ``matrix`` and ``plot``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ftprobe.errors import FtprobeError


def _ft_options(f):
    """The fine-tuning options shared by finetune, compare and matrix."""
    opts = [
        click.option(
            "--epochs", type=int, help="Fine-tuning epochs (default 10; 3 for bert-base)."
        ),
        click.option("--lr", type=float, help="Fine-tuning learning rate (default 3e-4)."),
        click.option("--ft-batch-size", type=int, help="Fine-tuning batch size (default 32)."),
        click.option("--warmup", type=float, help="Warm-up fraction of the steps (default 0.1)."),
        click.option(
            "--max-train-examples",
            type=int,
            help="Fine-tune on a fixed seeded subset of N train examples (quick runs).",
        ),
        click.option(
            "--save-every",
            type=int,
            help="Keep a checkpoint every N steps (for the dynamics plots).",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _ft_dict(seed: int, device: str, **given: Any) -> dict[str, Any]:
    ren = {"ft_batch_size": "batch_size", "max_train_examples": "max_examples"}
    out = {ren.get(k, k): v for k, v in given.items() if v is not None}
    out.setdefault("seed", seed)
    out.setdefault("device", device)
    return out


def _fmt(x: Any, spec: str = ".4f") -> str:
    if x is None:
        return "-"
    return format(x, spec) if isinstance(x, float) else str(x)


def add(cli: click.Group) -> None:  # noqa: C901 - one place that wires the commands
    @cli.command()
    @click.option("--task", "-t", required=True, help="Task to fine-tune on.")
    @click.option(
        "--model",
        "-m",
        default="minilm-l6",
        show_default=True,
        help="Encoder name, Hugging Face id or local directory.",
    )
    @click.option(
        "--batch-size", "ft_batch_size", type=int, help="Fine-tuning batch size (default 32)."
    )
    @click.option("--epochs", type=int, help="Epochs (default 10; 3 for bert-base).")
    @click.option("--lr", type=float, help="Learning rate (default 3e-4, as the paper reports).")
    @click.option("--warmup", type=float, help="Warm-up fraction (default 0.1).")
    @click.option("--seed", default=0, show_default=True, type=int)
    @click.option(
        "--save-every",
        type=int,
        metavar="STEPS",
        help="Also keep a checkpoint every STEPS steps (step-<N>/).",
    )
    @click.option(
        "--max-train-examples",
        type=int,
        help="Fine-tune on a fixed seeded subset of N train examples.",
    )
    @click.option("--device", default=None, help="cpu, cuda, ... (default: cuda if present).")
    def finetune(
        task: str,
        model: str,
        ft_batch_size: int | None,
        epochs: int | None,
        lr: float | None,
        warmup: float | None,
        seed: int,
        save_every: int | None,
        max_train_examples: int | None,
        device: str | None,
    ) -> None:
        """Fine-tune an encoder with a linear head on the task's probed representation.

        The checkpoint (Hugging Face format, usable as --model DIR) is cached, keyed by
        encoder, task, hyper-parameters and seed; a second call reuses it.
        """
        from ftprobe.finetune import finetuned_checkpoint, read_meta
        from ftprobe.registry import encoders, tasks

        tasks().get(task)
        encoders().get(model)
        opts = {
            k: v
            for k, v in dict(
                epochs=epochs,
                lr=lr,
                batch_size=ft_batch_size,
                warmup=warmup,
                max_examples=max_train_examples,
                save_every=save_every,
                device=device,
            ).items()
            if v is not None
        }
        path = finetuned_checkpoint(model, task, seed=seed, **opts)
        meta = read_meta(path) or {}
        loss = meta.get("loss") or []
        from ftprobe.cli import _table

        cfg = meta.get("config", {})
        _table(
            f"{model} fine-tuned on {task}",
            ["field", "value"],
            [
                ["checkpoint", str(path)],
                ["train examples", str(meta.get("n_train"))],
                ["epochs / steps", f"{cfg.get('epochs')} / {meta.get('steps')}"],
                [
                    "lr / batch / warm-up",
                    f"{cfg.get('lr')} / {cfg.get('batch_size')} / {cfg.get('warmup')}",
                ],
                [
                    "loss first → last",
                    f"{_fmt(loss[0] if loss else None)} → {_fmt(loss[-1] if loss else None)}",
                ],
                ["seconds", _fmt(meta.get("seconds"), ".1f")],
            ],
        )
        click.echo(str(path))

    @cli.command()
    @click.option("--task", "-t", required=True, help="Task to probe.")
    @click.option("--model", "-m", default="minilm-l6", show_default=True, help="Encoder.")
    @click.option("--finetuned-on", required=True, help="Task the encoder is fine-tuned on.")
    @click.option(
        "--layers",
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
        help="Output folder (default ftprobe-runs/compare__...).",
    )
    @click.option(
        "--classifier-option",
        "-c",
        multiple=True,
        metavar="KEY=VALUE",
        help="Option of the classifier probe (repeatable).",
    )
    @click.option(
        "--directprobe-option",
        "-d",
        multiple=True,
        metavar="KEY=VALUE",
        help="Option of DirectProbe (repeatable).",
    )
    @click.option("--max-train", type=int, help="Probe a seeded subset of N train vectors.")
    @click.option("--max-test", type=int, help="Probe a seeded subset of N test vectors.")
    @click.option(
        "--checkpoints",
        is_flag=True,
        help="Also probe every --save-every checkpoint (dynamics plots).",
    )
    @click.option("--device", default="cpu", show_default=True)
    @click.option(
        "--batch-size",
        default=64,
        show_default=True,
        type=int,
        help="Sentences per forward pass when encoding.",
    )
    @_ft_options
    def compare(
        task: str,
        model: str,
        finetuned_on: str,
        layers: str,
        seed: int,
        out: Path | None,
        classifier_option: tuple[str, ...],
        directprobe_option: tuple[str, ...],
        max_train: int | None,
        max_test: int | None,
        checkpoints: bool,
        device: str,
        batch_size: int,
        **ft: Any,
    ) -> None:
        """Before vs after fine-tuning, per layer: accuracy, clusters, distances, similarity."""
        from ftprobe.cli import _table, parse_options
        from ftprobe.compare import CompareConfig, table_rows
        from ftprobe.compare import compare as run_compare

        cfg = CompareConfig(
            task=task,
            model=model,
            finetuned_on=finetuned_on,
            layers=layers,
            seed=seed,
            device=device,
            batch_size=batch_size,
            classifier_options=parse_options(classifier_option, "--classifier-option"),
            directprobe_options=parse_options(directprobe_option, "--directprobe-option"),
            finetune_options=_ft_dict(seed, device, **ft),
            max_train=max_train,
            max_test=max_test,
            out=out,
        )
        if checkpoints and not cfg.finetune_options.get("save_every"):
            raise FtprobeError("--checkpoints needs --save-every N (steps between checkpoints)")
        record = run_compare(cfg)
        cols, rows = table_rows(record)
        _table(f"{task} · {model} · before vs after fine-tuning on {finetuned_on}", cols, rows)
        target = Path(record["config"]["out"])
        if checkpoints:
            from ftprobe.dynamics import dynamics
            from ftprobe.plots import plot_dynamics

            dyn = dynamics(cfg, target)
            plot_dynamics(dyn, target)
        click.echo(f"results: {target}")

    @cli.command()
    @click.option("--model", "-m", default="minilm-l6", show_default=True, help="Encoder.")
    @click.option("--finetune-on", default="", help="Comma list of tasks to fine-tune on (rows).")
    @click.option("--probe-on", required=True, help="Comma list of tasks to probe (columns).")
    @click.option("--probe", "-p", default="directprobe", show_default=True)
    @click.option(
        "--probe-option",
        "-o",
        multiple=True,
        metavar="KEY=VALUE",
        help="Option for the probe (repeatable).",
    )
    @click.option("--layer", default="last", show_default=True, help="One layer: last or N.")
    @click.option("--seed", default=0, show_default=True, type=int)
    @click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        help="Output folder (default ftprobe-runs/matrix__...); rerun to resume.",
    )
    @click.option("--max-train", type=int, help="Probe a seeded subset of N train vectors.")
    @click.option("--max-test", type=int, help="Probe a seeded subset of N test vectors.")
    @click.option("--max-cells", type=int, help="Stop after computing N new cells (rerun resumes).")
    @click.option("--device", default="cpu", show_default=True)
    @click.option("--batch-size", default=64, show_default=True, type=int)
    @_ft_options
    def matrix(
        model: str,
        finetune_on: str,
        probe_on: str,
        probe: str,
        probe_option: tuple[str, ...],
        layer: str,
        seed: int,
        out: Path | None,
        max_train: int | None,
        max_test: int | None,
        max_cells: int | None,
        device: str,
        batch_size: int,
        **ft: Any,
    ) -> None:
        """Cross-task matrix: original and fine-tuned encoders (rows) × probed tasks (columns)."""
        from ftprobe.cli import _table, parse_options
        from ftprobe.matrix import MatrixConfig, run_matrix

        def split(text: str) -> list[str]:
            return [t.strip() for t in text.split(",") if t.strip()]

        cfg = MatrixConfig(
            model=model,
            finetune_on=split(finetune_on),
            probe_on=split(probe_on),
            probe=probe,
            probe_options=parse_options(probe_option),
            finetune_options=_ft_dict(seed, device, **ft),
            layer=layer,
            seed=seed,
            device=device,
            batch_size=batch_size,
            max_train=max_train,
            max_test=max_test,
            max_cells=max_cells,
            out=out,
        )
        record = run_matrix(cfg)
        md = record.get("min_distance_change")
        rows = []
        for i, row in enumerate(record["rows"]):
            line = [row]
            for j in range(len(record["cols"])):
                text = _fmt(record["values"][i][j])
                if md and md[i][j]:
                    text += f" (Δ {_fmt(md[i][j]['mean_change'], '+.3f')})"
                line.append(text)
            rows.append(line)
        _table(
            f"{model} · {probe} ({record['main_metric']}) · layer {layer}",
            ["encoder", *record["cols"]],
            rows,
        )
        state = "complete" if record["complete"] else "incomplete: rerun to resume"
        click.echo(f"results: {record['config']['out']} ({record['new_cells']} new cells, {state})")

    @cli.command()
    @click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
    @click.option("--labels", help="Comma list of labels for the centroid PCA plot.")
    @click.option("--layers", help="Comma list of layers to plot (default: all stored).")
    def plot(directory: Path, labels: str | None, layers: str | None) -> None:
        """Regenerate the PNG plots of stored compare/dynamics/matrix results in DIRECTORY."""
        from ftprobe.plots import regenerate

        label_list = [x.strip() for x in labels.split(",")] if labels else None
        try:
            layer_list = [int(x) for x in layers.split(",")] if layers else None
        except ValueError:
            raise FtprobeError(f"bad --layers {layers!r}; use a comma list like 0,3") from None
        for path in regenerate(directory, label_list, layer_list):
            click.echo(str(path))
