"""The command-line options shared by the commands, declared once.

One vocabulary: ``--task/-t``, ``--model/-m`` (default: the encoder a plugin marks default),
``--probe/-p``, ``--layers`` (alias ``--layer``), ``--seed``, ``--out``, ``-o [PROBE.]KEY=VALUE``
for probe options, ``--device`` (``auto`` = cuda when present), ``--batch-size`` for encoding
and the ``--ft-*``-style fine-tuning options (``--epochs``, ``--lr``, ``--ft-batch-size``,
``--warmup``, ``--max-train-examples``, ``--save-every``) wherever a command fine-tunes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ftprobe.errors import FtprobeError

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _stack(*opts: Decorator) -> Decorator:
    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        for opt in reversed(opts):
            f = opt(f)
        return f

    return apply


def task(help: str = "Task name (see `ftprobe tasks`).", **kw: Any) -> Decorator:
    return click.option("--task", "-t", required=True, help=help, **kw)


def model(help: str = "Encoder name, Hugging Face id or local directory.") -> Decorator:
    return click.option(
        "--model",
        "-m",
        default=None,
        help=f"{help} [default: the plugins' default encoder, see `ftprobe models`]",
    )


def layers(default: str = "last") -> Decorator:
    return click.option(
        "--layers",
        "--layer",
        "layers",
        default=default,
        show_default=True,
        help="last | all | N | comma list (0 = embeddings).",
    )


seed = click.option("--seed", default=0, show_default=True, type=int, help="Random seed.")


def writable(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """An output folder that can be written (checked before any work; creates nothing)."""
    if value is not None:
        from ftprobe.fsguard import check_writable

        check_writable(value)
    return value


def out(what: str) -> Decorator:
    return click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        callback=writable,
        help=f"Output folder (default ftprobe-runs/{what}...).",
    )


probe_options = click.option(
    "--probe-option",
    "-o",
    "probe_option",
    multiple=True,
    metavar="[PROBE.]KEY=VALUE",
    help="Probe option (repeatable), e.g. -o sizes=64x64 or -o directprobe.top_k=1; "
    "see `ftprobe probes --options`.",
)

device = click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (cuda when present), cpu, cuda, cuda:1, mps.",
)

encoding = _stack(
    device,
    click.option(
        "--batch-size",
        default=64,
        show_default=True,
        type=click.IntRange(min=1),
        help="Sentences per forward pass when encoding.",
    ),
)

pooling = click.option(
    "--pooling",
    type=click.Choice(["mean", "first", "last", "cls"]),
    default=None,
    help="How subwords become a target vector: word/span/pair targets mean (default), first "
    "or last subword of each word; sentence targets cls (default) or mean.",
)


def after(what: str = "Compare with this encoder") -> Decorator:
    return click.option(
        "--after",
        metavar="MODEL",
        help=f"{what}: a hub id, a local checkpoint folder or a registered encoder fine-tuned "
        "elsewhere (instead of --finetuned-on; same tokenizer and layer count as --model).",
    )


subsets = _stack(
    click.option("--max-train", type=int, help="Probe a seeded subset of N train vectors."),
    click.option("--max-test", type=int, help="Probe a seeded subset of N test vectors."),
)

# The fine-tuning options, one entry each: the parameter name is ``ft_`` + the keyword that
# ``engine.finetune.finetuned_checkpoint`` takes.
FINETUNE_OPTIONS: list[Decorator] = [
    click.option("--epochs", "ft_epochs", type=int, help="Fine-tuning epochs (the paper's)."),
    click.option("--lr", "ft_lr", type=float, help="Fine-tuning learning rate (3e-4)."),
    click.option("--ft-batch-size", "ft_batch_size", type=int, help="Fine-tuning batch (32)."),
    click.option("--warmup", "ft_warmup", type=float, help="Warm-up fraction (0.1)."),
    click.option(
        "--max-train-examples",
        "ft_max_examples",
        type=int,
        help="Fine-tune on a fixed seeded subset of N train examples.",
    ),
    click.option(
        "--save-every",
        "ft_save_every",
        type=int,
        metavar="STEPS",
        help="Also keep a checkpoint every STEPS steps (step-<N>/).",
    ),
]


executors = _stack(
    click.option("--executor", "-e", help="Executor plugin [default: local, or a sweep spec's]."),
    click.option(
        "--workers", "-j", type=int, help="Parallel workers [default: 1, or a sweep spec's]."
    ),
    click.option(
        "--executor-option", "-x", multiple=True, metavar="KEY=VALUE", help="Executor option."
    ),
)


def finetuning(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the fine-tuning options; the command receives them as one ``finetune`` dict
    (only the options given, keyed as ``finetuned_checkpoint`` takes them)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {k.removeprefix("ft_"): kwargs.pop(k) for k in list(kwargs) if k.startswith("ft_")}
        kwargs["finetune"] = {k: v for k, v in given.items() if v is not None}
        return f(*args, **kwargs)

    return _stack(*FINETUNE_OPTIONS)(wrapper)


def finetune_settings(
    finetune: dict[str, Any], seed: int, device: str, finetuned_on: str | None
) -> dict[str, Any]:
    """The fine-tuning keyword arguments of a command: the given options, its seed and device;
    options without ``--finetuned-on`` are a one-line error."""
    if finetune and not finetuned_on:
        raise FtprobeError("fine-tuning options need --finetuned-on TASK")
    if not finetuned_on:
        return {}
    return {"seed": seed, "device": device, **finetune}


def resolve_model(name: str | None) -> str:
    """``--model``, or the encoder a plugin declares the default."""
    from ftprobe.pluginmanager import default_encoder

    return name or default_encoder()


def comma_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]
