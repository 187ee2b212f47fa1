"""``ftprobe similarity``: unsupervised before/after comparison of two encoders, layer by layer.

Vector measures (RSA, CKA, SVCCA, PWCCA, ...) read the cached target vectors of one split of a
task from both encoders (rows = the same examples; ``max_examples`` keeps a seeded subset).
Attention measures read both encoders' attention maps over the unique sentences of that split
(a seeded subset of at most ``max_sentences``), tokenised with ``is_split_into_words=True`` and
cut to the model window, padding removed. Layer 0 (embeddings) has no attention.

A measure that cannot be computed at a layer (too few examples, ...) gives ``null`` there with
the reason in ``why_missing``; the other measures still run.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ftprobe import __version__, atomic
from ftprobe.api import LoadedEncoder, SimilaritySpec
from ftprobe.engine.extract import group_by_sentence, resolve_device, vectors
from ftprobe.engine.finetune import after_encoder, encoder_for, encoder_identity
from ftprobe.engine.loading import load_task
from ftprobe.engine.pooling import check_fast, model_max_length, resolve_pooling
from ftprobe.engine.probing import layer_indices
from ftprobe.engine.provenance import portable_model
from ftprobe.engine.rundir import DEFAULT_RUNS_DIR, slug
from ftprobe.errors import FtprobeError
from ftprobe.pluginmanager import encoders, measures, probes, tasks
from ftprobe.progress import bar, log
from ftprobe.records import SimilarityLayer, SimilarityRecord, write_record

RESULT_FILE = "similarity.json"
MAX_SENTENCES = 200


# ----------------------------------------------------------------------- measures
def similarity_measures() -> list[SimilaritySpec]:
    """Every registered similarity measure: vector measures, then attention ones, by name."""
    found = list(measures())
    return sorted(found, key=lambda s: (s.input == "attentions", s.name))


def resolve_measures(names: Sequence[str] | None) -> list[SimilaritySpec]:
    """The measures ``names`` (all registered ones when None or empty), checked."""
    known = similarity_measures()
    if not names:
        if not known:
            raise FtprobeError("no similarity measures are registered; check FTPROBE_LOAD_PLUGINS")
        return known
    listing = ", ".join(s.name for s in known) or "none"
    out: list[SimilaritySpec] = []
    for name in dict.fromkeys(n.strip() for n in names if n.strip()):
        if name in probes():
            raise FtprobeError(
                f"{name!r} is a probe, not a similarity measure; run it with "
                f"`ftprobe run --probe {name}` (measures: {listing})"
            )
        if name not in measures():
            raise FtprobeError(f"unknown similarity measure {name!r}; known measures: {listing}")
        spec = measures().get(name)
        if spec.input not in ("vectors", "attentions"):
            raise FtprobeError(
                f"measure {name!r} declares input {spec.input!r}; its plugin must use "
                "'vectors' or 'attentions'"
            )
        out.append(spec)
    if not out:
        raise FtprobeError(f"no measure given; known measures: {listing}")
    return out


def seeded_subset(n: int, cap: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subset of ``cap`` of ``n`` items (all when cap is None/≥n)."""
    if cap is not None and cap < 1:
        raise FtprobeError(f"subset size must be at least 1, got {cap}")
    if cap is None or cap >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))


# ---------------------------------------------------------------------- attention
@contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Switch ``model`` to eager attention (sdpa returns no attention maps), then back."""
    before = getattr(model.config, "_attn_implementation", None)
    switch = getattr(model, "set_attn_implementation", None)
    if switch is None or before in (None, "eager"):
        yield
        return
    switch("eager")
    try:
        yield
    finally:
        switch(before)


def attentions(
    encoder: LoadedEncoder,
    sentences: Sequence[Sequence[str]],
    *,
    device: str = "cpu",
    batch_size: int = 32,
    desc: str = "attention",
) -> list[list[np.ndarray]]:
    """Attention maps: ``out[l][s]`` is layer ``l+1``'s (heads, T, T) float32 map of sentence
    ``s`` (padding removed; sentences cut to the model window)."""
    import torch

    check_fast(encoder.tokenizer, encoder.name)
    dev = resolve_device(device)
    model, tok = encoder.model, encoder.tokenizer
    model.to(dev)
    model.eval()
    maxlen = model_max_length(model, tok)
    enc = tok(
        [list(s) for s in sentences], is_split_into_words=True, truncation=True, max_length=maxlen
    )
    ids = enc["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out: list[list[Any]] = [[None] * len(ids) for _ in range(encoder.num_layers)]
    with eager_attention(model), torch.inference_mode(), bar(desc, len(ids)) as progress:
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            padded = tok.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
            result = model(
                input_ids=padded["input_ids"].to(dev),
                attention_mask=padded["attention_mask"].to(dev),
                output_attentions=True,
                return_dict=True,
            )
            maps = result.attentions
            if not maps or len(maps) != encoder.num_layers:
                raise FtprobeError(
                    f"encoder {encoder.name} returned no attention maps; it must support "
                    "output_attentions=True with eager attention"
                )
            for layer, att in enumerate(maps):
                att = att.float().cpu().numpy()
                for row, i in enumerate(batch):
                    t = len(ids[i])
                    out[layer][i] = np.ascontiguousarray(att[row, :, :t, :t])
            progress.advance(progress.task_ids[0], len(batch))
    return out


# ---------------------------------------------------------------------- pipeline
def _score(spec: SimilaritySpec, a: Any, b: Any) -> tuple[float | None, list[float] | None, str]:
    """(score, per-head scores, reason when missing) of one measure at one layer."""
    try:
        value = spec.compute(a, b)
    except (FtprobeError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return None, None, str(exc)
    heads = None
    if isinstance(value, dict):
        heads = [float(v) for v in value.get("per_head") or []] or None
        value = value.get("mean")
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None, heads, f"measure returned {value!r}, not a number"
    if not math.isfinite(score):
        return None, heads, "measure returned a value that is not finite"
    return score, heads, ""


def default_out(
    task: str, model: str, finetuned_on: str | None, against: str | None, split: str, seed: int
) -> Path:
    other = f"ft-{finetuned_on}" if finetuned_on else f"vs-{against}"
    return DEFAULT_RUNS_DIR / slug("similarity", task, model, other, split, f"seed{seed}")


def similarity(
    task: str,
    model: str,
    finetuned_on: str | None = None,
    measures: Sequence[str] | None = None,
    *,
    against: str | None = None,
    layers: str = "all",
    seed: int = 0,
    device: str = "cpu",
    batch_size: int = 64,
    split: str = "test",
    max_examples: int | None = None,
    max_sentences: int | None = MAX_SENTENCES,
    finetune_options: dict[str, Any] | None = None,
    out: Path | None = None,
    after: str | None = None,
    pooling: str | None = None,
) -> dict[str, Any]:
    """Compare ``model`` with its fine-tuned version (``finetuned_on``), with ``after`` (the
    same encoder fine-tuned elsewhere: same tokenizer and layer count) or with encoder
    ``against`` (same layer count) on one task split, per layer and measure. Writes the results
    to ``out`` when given. Returns the JSON record."""
    t0 = time.perf_counter()
    if sum(x is not None for x in (finetuned_on, against, after)) != 1:
        raise FtprobeError(
            "give exactly one of --finetuned-on TASK, --after MODEL or --against MODEL"
        )
    specs = resolve_measures(measures)
    tasks().get(task)
    encoders().get(model)
    if finetuned_on is not None:
        tasks().get(finetuned_on)
    else:
        encoders().get(str(against or after))
    if max_examples is not None and max_examples < 1:
        raise FtprobeError(f"--max-examples must be at least 1, got {max_examples}")
    if max_sentences is not None and max_sentences < 1:
        raise FtprobeError(f"--max-sentences must be at least 1, got {max_sentences}")
    spec, data = load_task(task)
    if split not in data.splits:
        raise FtprobeError(
            f"task {task!r} has no split {split!r}; splits: {', '.join(data.splits)}"
        )
    pooling = resolve_pooling(data.target, pooling)
    first = encoder_for(model)
    if against is None:
        second = after_encoder(model, finetuned_on, after, **(finetune_options or {}))
    else:
        second = encoder_for(str(against))
    if first.num_layers != second.num_layers:
        raise FtprobeError(
            f"{first.name} has {first.num_layers} layers and {second.name} {second.num_layers}; "
            "compare encoders with the same number of layers"
        )
    picked = layer_indices(layers, first.num_layers)
    examples = data.splits[split].examples
    rows: list[dict[str, Any]] = [
        {"layer": layer, "scores": {}, "per_head": {}, "why_missing": {}} for layer in picked
    ]
    n_used = n_sentences = 0

    vector_specs = [s for s in specs if s.input == "vectors"]
    if vector_specs:
        kw = {"device": device, "batch_size": batch_size, "pool": pooling}
        va = vectors(spec, data, split, first, **kw)
        vb = vectors(spec, data, split, second, **kw)
        keep = seeded_subset(len(examples), max_examples, seed)
        n_used = len(keep)
        for row in rows:
            layer = row["layer"]
            log(f"[bold]layer {layer}[/]: {', '.join(s.name for s in vector_specs)} on {n_used}")
            a = np.asarray(va[layer][keep], dtype=np.float64)
            b = np.asarray(vb[layer][keep], dtype=np.float64)
            for s in vector_specs:
                row["scores"][s.name], _, why = _score(s, a, b)
                if why:
                    row["why_missing"][s.name] = why

    attention_specs = [s for s in specs if s.input == "attentions"]
    if attention_specs:
        sentences = list(group_by_sentence(examples))
        sentences = [sentences[i] for i in seeded_subset(len(sentences), max_sentences, seed)]
        n_sentences = len(sentences)
        kw = {"device": device, "batch_size": batch_size}
        att_a = attentions(first, sentences, desc=f"attention of {first.name}", **kw)
        att_b = attentions(second, sentences, desc=f"attention of {second.name}", **kw)
        for row in rows:
            layer = row["layer"]
            for s in attention_specs:
                if layer == 0:
                    row["scores"][s.name] = None
                    row["why_missing"][s.name] = "layer 0 (embeddings) has no attention"
                    continue
                score, heads, why = _score(s, att_a[layer - 1], att_b[layer - 1])
                row["scores"][s.name] = score
                if heads is not None:
                    row["per_head"][s.name] = heads
                if why:
                    row["why_missing"][s.name] = why
        del att_a, att_b

    out = (
        Path(out) if out else default_out(task, model, finetuned_on, against or after, split, seed)
    )
    record = SimilarityRecord(
        ftprobe_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        config={
            "task": task,
            "model": portable_model(model),
            "finetuned_on": finetuned_on,
            "against": against,
            "after": portable_model(after) if after else None,
            "pooling": pooling,
            "measures": [s.name for s in specs],
            "layers": layers,
            "split": split,
            "seed": seed,
            "device": device,
            "batch_size": batch_size,
            "max_examples": max_examples,
            "max_sentences": max_sentences,
            "finetune_options": dict(finetune_options or {}),
            "out": str(out),
        },
        task={
            "name": spec.name,
            "target": data.target,
            "split": split,
            "n_examples": len(examples),
            "n_examples_used": n_used,
            "n_sentences_used": n_sentences,
        },
        encoders={"a": encoder_identity(first), "b": encoder_identity(second)},
        measures=[
            {"name": s.name, "kind": s.kind, "input": s.input, "description": s.description}
            for s in specs
        ],
        layers=[SimilarityLayer(**row) for row in rows],
        seconds=round(time.perf_counter() - t0, 3),
    )
    write_similarity(out, record)
    return record.to_json()


# ------------------------------------------------------------------------- output
def _cell(value: Any) -> str:
    return "" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


def to_csv(record: dict[str, Any]) -> str:
    """One row per layer, one column per measure (empty where missing)."""
    names = [m["name"] for m in record["measures"]]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["layer", *names])
    for row in record["layers"]:
        w.writerow([row["layer"], *(_cell(row["scores"].get(n)) for n in names)])
    return buf.getvalue()


def heads_csv(record: dict[str, Any], measure: str) -> str:
    """Long format: layer, head, score of a per-head measure."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["layer", "head", measure])
    for row in record["layers"]:
        for head, value in enumerate(row["per_head"].get(measure) or []):
            w.writerow([row["layer"], head, _cell(value)])
    return buf.getvalue()


def write_similarity(out: Path, typed: SimilarityRecord) -> None:
    """Write similarity.json, similarity.csv and the per-head CSVs into ``out`` (all or
    nothing); the report draws the plots."""
    record = typed.to_json()
    with atomic.directory(Path(out)) as tmp:
        write_record(tmp / RESULT_FILE, typed)
        atomic.write_text(tmp / "similarity.csv", to_csv(record))
        for m in record["measures"]:
            if any(r["per_head"].get(m["name"]) for r in record["layers"]):
                atomic.write_text(tmp / f"{m['name']}-heads.csv", heads_csv(record, m["name"]))
