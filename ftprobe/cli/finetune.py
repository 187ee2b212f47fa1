"""``ftprobe finetune``: fine-tune an encoder on a task (checkpoint cached and reused)."""

from __future__ import annotations

from typing import Any

import click

from ftprobe.cli import options
from ftprobe.cli.output import fmt, table


@click.command(short_help="Fine-tune an encoder on a task (cached).")
@options.task("Task to fine-tune on.")
@options.model()
@options.seed
@options.device
@options.finetuning
def finetune(
    task: str, model: str | None, seed: int, device: str, finetune: dict[str, Any]
) -> None:
    """Fine-tune an encoder with a linear head on the task's probed representation.

    The checkpoint (Hugging Face format, usable as --model DIR) is cached, keyed by
    encoder, task, hyper-parameters and seed; a second call reuses it.
    """
    from ftprobe.engine.extract import device_name
    from ftprobe.engine.finetune import finetuned_checkpoint, read_meta
    from ftprobe.pluginmanager import encoders, tasks

    model = options.resolve_model(model)
    tasks().get(task)
    encoders().get(model)
    path = finetuned_checkpoint(
        model, task, **options.finetune_settings(finetune, seed, device_name(device), task)
    )
    meta = read_meta(path) or {}
    loss = meta.get("loss") or []
    cfg = meta.get("config", {})
    table(
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
                f"{fmt(loss[0] if loss else None)} → {fmt(loss[-1] if loss else None)}",
            ],
            ["seconds", fmt(meta.get("seconds"), ".1f")],
        ],
    )
    click.echo(str(path))
