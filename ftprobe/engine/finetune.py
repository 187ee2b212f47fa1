"""Fine-tune an encoder with a linear head on exactly the representation a task probes.

The head reads what the probe reads (``ftprobe.engine.pooling.pooled_forward``): the mean of a
word's subword vectors, the concatenation of two word vectors for a pair, ``[CLS]`` for a sentence.
Defaults follow the paper: Adam (AdamW without weight decay), lr 3e-4, linear schedule with
10% warm-up, batch 32, 10 epochs (fewer where the encoder's plugin declares it).

Checkpoints live in ``<cache>/finetuned/<key>/`` in Hugging Face format (usable as
``--model DIR``) with ``ftprobe-finetune.json`` (config, loss curve, time); ``--save-every``
adds ``step-<N>/`` sub-checkpoints in the same directory.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ftprobe import atomic
from ftprobe.api import Example, LoadedEncoder, TaskData, TaskSpec
from ftprobe.engine.extract import device_name
from ftprobe.engine.loading import check_comparable, load_encoder, load_task
from ftprobe.engine.locking import file_lock
from ftprobe.engine.pooling import pooled_forward
from ftprobe.engine.provenance import portable_model
from ftprobe.errors import FtprobeError
from ftprobe.pluginmanager import encoders, tasks
from ftprobe.progress import bar, log
from ftprobe.settings import current

META_FILE = "ftprobe-finetune.json"
FORMAT_VERSION = 1
SUBSET_SEED = 0  # the --max-examples subset is the same for every training seed


@dataclass(frozen=True)
class FinetuneConfig:
    """Hyper-parameters: all of them are part of the checkpoint key (``save_every`` is not)."""

    epochs: int
    lr: float = 3e-4
    batch_size: int = 32
    seed: int = 0
    warmup: float = 0.1
    max_examples: int | None = None
    max_length: int | None = None

    def validate(self) -> None:
        if self.epochs < 1:
            raise FtprobeError(f"--epochs must be at least 1, got {self.epochs}")
        if not self.lr > 0:
            raise FtprobeError(f"--lr must be positive, got {self.lr}")
        if self.batch_size < 1:
            raise FtprobeError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not 0 <= self.warmup < 1:
            raise FtprobeError(f"warm-up fraction must be in [0, 1), got {self.warmup}")
        if self.max_examples is not None and self.max_examples < 1:
            raise FtprobeError(f"--max-examples must be at least 1, got {self.max_examples}")


DEFAULT_EPOCHS = 10  # the paper's count for its smaller encoders


def default_epochs(model: str) -> int:
    """The epoch count the encoder's plugin declares (``finetune_epochs``; the paper's 3 for
    its largest encoder), else :data:`DEFAULT_EPOCHS`."""
    declared = encoders().get(model).finetune_epochs
    return declared if declared is not None else DEFAULT_EPOCHS


def checkpoint_key(
    encoder: LoadedEncoder, spec: TaskSpec, data: TaskData, config: FinetuneConfig
) -> str:
    """sha256 over the encoder identity, the task (version, train split) and hyper-parameters."""
    ident = {
        "format": FORMAT_VERSION,
        "encoder": [encoder.name, encoder.fingerprint],
        "task": [spec.name, spec.version, data.splits["train"].fingerprint()],
        "config": asdict(config),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]


def checkpoint_dir(key: str) -> Path:
    return current().cache_dir / "finetuned" / key


def read_meta(path: Path) -> dict[str, Any] | None:
    """The ``ftprobe-finetune.json`` of a checkpoint directory, or None if it is not one."""
    meta = Path(path) / META_FILE
    if not meta.is_file():
        return None
    try:
        return json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def step_checkpoints(path: Path) -> list[tuple[int, Path]]:
    """Intermediate checkpoints ``step-<N>/`` of a fine-tuned directory, by step."""
    out = []
    for sub in Path(path).glob("step-*"):
        tail = sub.name.split("-", 1)[1]
        if sub.is_dir() and tail.isdigit():
            out.append((int(tail), sub))
    return sorted(out)


def checkpoint_series(path: Path) -> list[tuple[int, Path]]:
    """Every checkpoint of a fine-tuned directory by step: the ``step-<N>/`` ones, then the
    final weights (the directory itself) at the last step."""
    meta = read_meta(path)
    if meta is None:
        raise FtprobeError(f"{path} is not a fine-tuned checkpoint (no {META_FILE})")
    return [*step_checkpoints(path), (int(meta["steps"]), Path(path))]


def train_examples(data: TaskData, max_examples: int | None) -> list[Example]:
    """The training examples, or a fixed seeded subset of ``max_examples`` of them."""
    examples = list(data.splits["train"].examples)
    if max_examples is not None and max_examples < len(examples):
        idx = sorted(random.Random(SUBSET_SEED).sample(range(len(examples)), max_examples))
        examples = [examples[i] for i in idx]
    return examples


def finetuned_checkpoint(
    model: str,
    task: str,
    *,
    epochs: int | None = None,
    lr: float = 3e-4,
    batch_size: int = 32,
    seed: int = 0,
    warmup: float = 0.1,
    max_examples: int | None = None,
    max_length: int | None = None,
    save_every: int | None = None,
    device: str | None = None,
) -> Path:
    """The checkpoint of ``model`` fine-tuned on ``task``: reused from the cache, else trained.

    A cached checkpoint is reused unless ``save_every`` asks for intermediate checkpoints it
    lacks (then it is trained again with them).
    """
    config = FinetuneConfig(
        epochs=epochs if epochs is not None else default_epochs(model),
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        warmup=warmup,
        max_examples=max_examples,
        max_length=max_length,
    )
    config.validate()
    if save_every is not None and save_every < 1:
        raise FtprobeError(f"--save-every must be at least 1 step, got {save_every}")
    spec, data = load_task(task)
    encoder = load_encoder(model)
    final = checkpoint_dir(checkpoint_key(encoder, spec, data, config))

    def usable() -> bool:
        meta = read_meta(final)
        return meta is not None and (save_every is None or meta.get("save_every") == save_every)

    if usable():
        log(f"reusing fine-tuned checkpoint {final}")
        return final
    # One process trains; others asking for the same checkpoint wait, then reuse it.
    with file_lock(final.with_name(final.name + ".lock"), what=f"fine-tuning {final.name}"):
        if usable():
            log(f"reusing fine-tuned checkpoint {final} (trained by another process)")
            return final
        train(encoder, spec, data, config, final, save_every=save_every, device=device)
    return final


def encoder_for(
    model: str, finetuned_on: str | None = None, **finetune_options: Any
) -> LoadedEncoder:
    """The encoder ``model``, or that encoder fine-tuned on task ``finetuned_on``."""
    encoders().get(model)  # unknown names fail here, before any heavy import
    if finetuned_on is None:
        return load_encoder(model)
    tasks().get(finetuned_on)
    return load_encoder(str(finetuned_checkpoint(model, finetuned_on, **finetune_options)))


def after_encoder(
    model: str, finetuned_on: str | None = None, after: str | None = None, **finetune_options: Any
) -> LoadedEncoder:
    """The "after" side of a before/after study: ``model`` fine-tuned on task ``finetuned_on``
    by ftprobe, or the encoder ``after`` (a hub id, a local checkpoint folder or a registered
    name: a model fine-tuned elsewhere), checked to share ``model``'s tokenizer and layers."""
    if (finetuned_on is None) == (after is None):
        raise FtprobeError("give exactly one of --finetuned-on TASK or --after MODEL")
    if after is None:
        return encoder_for(model, finetuned_on, **finetune_options)
    if finetune_options:
        raise FtprobeError("fine-tuning options need --finetuned-on TASK, not --after")
    encoders().get(after)
    tuned = load_encoder(after)
    check_comparable(encoder_for(model), tuned)
    return tuned


def encoder_identity(encoder: LoadedEncoder) -> dict[str, Any]:
    """Name, source, fingerprint and shape of an encoder, as results record them."""
    return {
        "name": encoder.name,
        "source": portable_model(str(encoder.source)),
        "fingerprint": encoder.fingerprint,
        "num_layers": encoder.num_layers,
        "hidden_size": encoder.hidden_size,
    }


def _schedule(total: int, warmup: float):
    """Linear warm-up over ``warmup * total`` steps, then linear decay to 0."""
    warm = int(round(warmup * total))

    def factor(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))

    return factor


def _save(model: Any, tokenizer: Any, path: Path) -> None:
    from transformers.utils import logging as hf_logging

    path.mkdir(parents=True, exist_ok=True)
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # our own bar is running; no "Writing model shards"
    try:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def train(
    encoder: LoadedEncoder,
    spec: TaskSpec,
    data: TaskData,
    config: FinetuneConfig,
    final: Path,
    *,
    save_every: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Fine-tune a copy of ``encoder`` and write the checkpoint to ``final`` atomically."""
    import torch

    device = device_name(device)
    labels = data.labels
    index = {label: i for i, label in enumerate(labels)}
    examples = train_examples(data, config.max_examples)
    if not examples:
        raise FtprobeError(f"task {spec.name!r} has no training examples to fine-tune on")
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    # A copy: the caller's encoder (possibly cached in memory) keeps its original weights.
    model, tokenizer = copy.deepcopy(encoder.model), encoder.tokenizer
    model.to(device)
    width = encoder.hidden_size * (2 if data.target == "pair" else 1)
    head = torch.nn.Linear(width, len(labels)).to(device)
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    per_epoch = math.ceil(len(examples) / config.batch_size)
    total = per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(total, config.warmup))
    loss_fn = torch.nn.CrossEntropyLoss()
    losses: list[float] = []
    started = time.time()
    with atomic.directory(final) as tmp:
        model.train()
        head.train()
        step = 0
        with bar(f"fine-tuning {encoder.name} on {spec.name}", total) as progress:
            tid = progress.task_ids[0]
            for epoch in range(config.epochs):
                order = list(range(len(examples)))
                rng.shuffle(order)
                for start in range(0, len(order), config.batch_size):
                    batch = [examples[i] for i in order[start : start + config.batch_size]]
                    pooled = pooled_forward(
                        model,
                        tokenizer,
                        batch,
                        data.target,
                        device=device,
                        max_length=config.max_length,
                    )
                    if pooled.shape[-1] != width:
                        raise FtprobeError(
                            f"pooled {data.target} vectors have width {pooled.shape[-1]}, "
                            f"expected {width}; the encoder's hidden size does not match"
                        )
                    gold = torch.tensor([index[ex.label] for ex in batch], device=device)
                    loss = loss_fn(head(pooled), gold)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(params, 1.0)
                    optimizer.step()
                    scheduler.step()
                    step += 1
                    losses.append(float(loss.detach()))
                    progress.update(
                        tid,
                        advance=1,
                        info=f"epoch {epoch + 1}/{config.epochs} loss {losses[-1]:.4f}",
                    )
                    if save_every and step % save_every == 0 and step < total:
                        _save(model, tokenizer, tmp / f"step-{step}")
        model.eval()
        _save(model, tokenizer, tmp)
        meta = {
            "format": FORMAT_VERSION,
            "encoder": encoder.name,
            "encoder_source": encoder.source,
            "encoder_fingerprint": encoder.fingerprint,
            "task": spec.name,
            "task_version": spec.version,
            "train_fingerprint": data.splits["train"].fingerprint(),
            "target": data.target,
            "labels": labels,
            "n_train": len(examples),
            "config": asdict(config),
            "save_every": save_every,
            "steps": total,
            "steps_per_epoch": per_epoch,
            "loss": losses,
            "seconds": round(time.time() - started, 3),
            "device": device,
            "trained_by": {"host": socket.gethostname(), "pid": os.getpid()},
        }
        atomic.write_json(tmp / META_FILE, meta)
        torch.save(head.state_dict(), tmp / "head.pt")
    log(f"fine-tuned checkpoint written to {final}")
    return meta
