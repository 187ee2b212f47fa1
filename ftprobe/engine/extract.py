"""Representation extraction: one vector per example per layer (layer 0 = embeddings), in
one forward pass per batch, and its on-disk cache.

Speed on CPU comes from encoding each distinct sentence once, batching sentences sorted by
subword length with dynamic padding, ``torch.inference_mode`` and gathering only the target
positions of every layer (see :mod:`ftprobe.engine.pooling`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ftprobe.api import Example, LoadedEncoder, TargetKind, TaskData, TaskSpec
from ftprobe.engine import cache, pooling
from ftprobe.errors import FtprobeError
from ftprobe.progress import bar, log

# Bump when the vectors extraction writes change for the same inputs: part of every cache key.
EXTRACTION_VERSION = "1"
CHUNK_EXAMPLES = 4096  # examples per resumable cache chunk
TOKENS_PER_SENTENCE = 128  # padded-token budget per batch = batch_size * this


def device_name(device: str | None) -> str:
    """``auto`` (or None) as ``cuda`` when torch sees a GPU, else ``cpu``; others unchanged."""
    if device not in (None, "auto"):
        return str(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device: str | Any | None) -> Any:
    """A torch device, checked to exist (cpu, cuda, cuda:1, mps); None means cpu."""
    import torch

    if device is None:
        device = "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise FtprobeError(f"unknown device {device!r}; use cpu, cuda or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FtprobeError("device 'cuda' requested but torch sees no CUDA GPU; use --device cpu")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise FtprobeError("device 'mps' requested but MPS is not available; use --device cpu")
    return dev


@dataclass
class ExtractStats:
    """Counters an :func:`extract` call adds to (benchmarks, logs)."""

    sentences: int = 0
    words: int = 0
    subwords: int = 0
    windowed: int = 0  # sentences longer than the model window
    seconds: float = 0.0


def group_by_sentence(examples: Sequence[Example]) -> dict[tuple[str, ...], list[int]]:
    """Example indices per distinct sentence (first-seen order)."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(ex.words, []).append(i)
    return groups


def _batches(lengths: list[int], order: list[int], batch_size: int) -> Iterator[list[int]]:
    """Sentence batches in ``order``: at most ``batch_size`` sentences and a padded-token budget."""
    budget = batch_size * TOKENS_PER_SENTENCE
    batch: list[int] = []
    longest = 0
    for i in order:
        longer = max(longest, lengths[i] + 2)
        if batch and (len(batch) >= batch_size or (len(batch) + 1) * longer > budget):
            yield batch
            batch, longer = [], lengths[i] + 2
        batch.append(i)
        longest = longer
    if batch:
        yield batch


def extract(
    encoder: LoadedEncoder,
    examples: Sequence[Example],
    kind: TargetKind,
    *,
    device: str | Any = "cpu",
    batch_size: int = 64,
    max_length: int | None = None,
    progress: Callable[[int], None] | None = None,
    stats: ExtractStats | None = None,
    tokenized: dict[tuple[str, ...], pooling.Tokenized] | None = None,
    pool: str | None = None,
) -> np.ndarray:
    """Vectors of ``examples``: ``(num_layers+1, n_examples, dim)`` float32, dim = hidden size
    (twice that for pairs). ``progress(k)`` is called after each batch of ``k`` examples.
    ``pool`` is the pooling (None: the target kind's default)."""
    import torch

    if batch_size < 1:
        raise FtprobeError(f"batch size {batch_size} must be at least 1")
    pool = pooling.resolve_pooling(kind, pool)
    dim = pooling.target_width(kind, encoder.hidden_size)
    out = np.empty((encoder.num_layers + 1, len(examples), dim), dtype=np.float32)
    if not examples:
        return out
    started = time.perf_counter()
    dev = resolve_device(device)
    model, tokenizer = encoder.model, encoder.tokenizer
    model.to(dev)
    model.eval()
    maxlen = pooling.model_max_length(model, tokenizer, max_length)
    groups = group_by_sentence(examples)
    sentences = list(groups)
    tok = dict(tokenized or {})
    todo = [s for s in sentences if s not in tok]
    tok.update(zip(todo, pooling.tokenize(tokenizer, todo), strict=True))
    lengths = [len(tok[s]) for s in sentences]
    order = sorted(range(len(sentences)), key=lambda i: lengths[i])
    windowed = 0
    with torch.inference_mode():
        for batch in _batches(lengths, order, batch_size):
            idx = [j for i in batch for j in groups[sentences[i]]]
            plan = pooling.make_plan(
                tokenizer,
                [examples[j] for j in idx],
                kind,
                max_length=maxlen,
                tokenized=tok,
                pooling=pool,
            )
            vecs = pooling.run_plan(model, plan, device=dev, all_layers=True)
            out[:, idx] = vecs.float().cpu().numpy()
            windowed += plan.n_windowed
            if progress is not None:
                progress(len(idx))
    if stats is not None:
        stats.sentences += len(sentences)
        stats.words += sum(len(s) for s in sentences)
        stats.subwords += sum(lengths)
        stats.windowed += windowed
        stats.seconds += time.perf_counter() - started
    return out


# ----------------------------------------------------------------------------- cache
def examples_hash(examples: Sequence[Example]) -> str:
    """sha256 of the words and targets of ``examples`` (labels do not change vectors)."""
    h = hashlib.sha256()
    prev: tuple[str, ...] | None = None
    for ex in examples:
        if ex.words != prev:
            h.update(b"\x01" + "\x00".join(ex.words).encode())
            prev = ex.words
        h.update(b"\x02" + ",".join(map(str, ex.targets)).encode())
    return h.hexdigest()


def cache_parts(
    task: TaskSpec,
    data: TaskData,
    split: str,
    encoder: LoadedEncoder,
    max_length: int,
    pool: str | None = None,
) -> dict[str, Any]:
    """Everything that decides a split's vectors: the cache key is a hash of this. A pooling
    other than the target kind's default is part of it (the default is left out, so the keys
    of vectors made before pooling became a choice stay valid)."""
    sp = data.splits[split]
    pool = pooling.resolve_pooling(data.target, pool)
    chosen = {} if pool == pooling.default_pooling(data.target) else {"pooling": pool}
    return {
        "encoder": encoder.fingerprint,
        "task": task.name,
        "task_version": task.version,
        "split": split,
        "data": sp.fingerprint(),
        "examples": examples_hash(sp.examples),
        "kind": data.target,
        "max_length": max_length,
        "extraction": EXTRACTION_VERSION,
        **chosen,
    }


def chunks_of(
    examples: Sequence[Example], tokenized: dict[tuple[str, ...], pooling.Tokenized]
) -> list[list[int]]:
    """Example indices in resumable chunks: whole sentences, sorted by length (deterministic)."""
    groups = group_by_sentence(examples)
    sentences = sorted(groups, key=lambda s: len(tokenized[s]))
    chunks: list[list[int]] = [[]]
    for s in sentences:
        if len(chunks[-1]) >= CHUNK_EXAMPLES:
            chunks.append([])
        chunks[-1].extend(groups[s])
    return chunks


@contextmanager
def _encoding_bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    with bar(description, total) as p:
        tid = p.task_ids[0]
        yield lambda k: p.advance(tid, k)


def vectors(
    task: TaskSpec,
    data: TaskData,
    split: str,
    encoder: LoadedEncoder,
    *,
    device: str | Any = "cpu",
    batch_size: int = 64,
    max_length: int | None = None,
    pool: str | None = None,
) -> np.ndarray:
    """The cached vectors of ``split`` (read-only memmap ``(num_layers+1, n, dim)``); computes
    and stores them on a miss, resuming a run that was killed part-way. ``pool``: the pooling
    (None: the target kind's default)."""
    if split not in data.splits:
        raise FtprobeError(
            f"task {task.name!r} has no split {split!r}; splits: {', '.join(data.splits)}"
        )
    if batch_size < 1:  # before the cache entry is opened: a user error leaves nothing
        raise FtprobeError(f"batch size {batch_size} must be at least 1")
    examples = data.splits[split].examples
    kind = data.target
    maxlen = pooling.model_max_length(encoder.model, encoder.tokenizer, max_length)
    dim = pooling.target_width(kind, encoder.hidden_size)
    shape = (encoder.num_layers + 1, len(examples), dim)
    parts = cache_parts(task, data, split, encoder, maxlen, pool)
    if not examples:
        return np.zeros(shape, dtype=np.float32)
    key = cache.make_key(parts)
    hit = cache.load(key, shape)
    if hit is not None:
        return hit
    sentences = list(group_by_sentence(examples))
    tok = dict(zip(sentences, pooling.tokenize(encoder.tokenizer, sentences), strict=True))
    chunks = chunks_of(examples, tok)
    stats = ExtractStats()
    about = {
        **parts,
        "encoder_name": encoder.name,
        "encoder_source": encoder.source,
        "shape": list(shape),
    }
    with cache.build(key, shape, len(chunks), about) as builder:
        if isinstance(builder, np.ndarray):
            return builder
        todo = [c for c in range(len(chunks)) if c not in builder.done]
        left = sum(len(chunks[c]) for c in todo)
        if len(todo) < len(chunks):
            log(f"resuming cache entry {key}: {len(chunks) - len(todo)}/{len(chunks)} chunks done")
        desc = f"encoding {task.name}/{split} with {encoder.name}"
        with _encoding_bar(desc, left) as advance:
            for c in todo:
                idx = chunks[c]
                vals = extract(
                    encoder,
                    [examples[i] for i in idx],
                    kind,
                    device=device,
                    batch_size=batch_size,
                    max_length=maxlen,
                    progress=advance,
                    stats=stats,
                    tokenized=tok,
                    pool=pool,
                )
                builder.put(c, np.asarray(idx, dtype=np.int64), vals)
        if stats.windowed:
            log(
                f"{stats.windowed} sentence(s) of {task.name}/{split} exceed {maxlen} subwords: "
                "encoded in overlapping windows"
            )
        meta = {
            **about,
            "windowed_sentences": stats.windowed,
            "seconds": round(stats.seconds, 3),
        }
        return builder.finish(meta)


def split_vectors(
    spec: TaskSpec,
    data: TaskData,
    encoder: LoadedEncoder,
    device: str = "cpu",
    batch_size: int = 64,
    splits: Sequence[str] = ("train", "test"),
    pool: str | None = None,
) -> dict[str, np.ndarray]:
    """The cached vectors of each of ``splits`` (default train and test)."""
    return {
        s: vectors(spec, data, s, encoder, device=device, batch_size=batch_size, pool=pool)
        for s in splits
    }
