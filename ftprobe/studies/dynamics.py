"""Fine-tuning dynamics: DirectProbe and label centroids at every saved checkpoint.

Step 0 is the original encoder, then each ``step-<N>/`` of the fine-tuned directory
(``--save-every``), then the final weights. Per checkpoint and layer: the per-label minimum
distance (Figure 2 of the paper), label centroids of the train vectors (Figure 3, stored in
``centroids.npz``), and the Pearson correlation of the label-pair distance vector with step 0's
(before/after spatial similarity, Figure 4).
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ftprobe import atomic
from ftprobe.api import Geometry, ProbeData
from ftprobe.engine.extract import split_vectors
from ftprobe.engine.finetune import checkpoint_series, finetuned_checkpoint
from ftprobe.engine.loading import load_encoder, load_task
from ftprobe.engine.probing import fit_only, layer_data, layer_indices
from ftprobe.engine.provenance import portable_model, portable_models
from ftprobe.engine.stats import pearson
from ftprobe.errors import FtprobeError
from ftprobe.progress import log
from ftprobe.records import DynamicsRecord, DynamicsStep, write_record

RESULT_FILE = "dynamics.json"
CENTROIDS_FILE = "centroids.npz"


def centroids(data: ProbeData) -> np.ndarray:
    """Mean vector per label (rows in ``data.labels`` order; NaN for labels without points)."""
    out = np.full((len(data.labels), data.X.shape[1]), np.nan, dtype=np.float64)
    for i in range(len(data.labels)):
        rows = data.X[data.y == i]
        if len(rows):
            out[i] = rows.mean(axis=0)
    return out


def centroid_key(step: int, layer: int) -> str:
    return f"step{step}_layer{layer}"


def dynamics(cfg: Any, out: Path) -> dict[str, Any]:
    """Probe every checkpoint of ``cfg.model`` fine-tuned on ``cfg.finetuned_on`` (which must
    have been trained with ``save_every``) with ``cfg.geometry_probe`` and write
    ``dynamics.json`` + ``centroids.npz``. ``cfg`` is a compare config (task, model,
    finetuned_on, layers, seed, device, batch_size, geometry_probe, options_of, finetune_options,
    max_train, max_test)."""
    t0 = time.perf_counter()
    ft = dict(cfg.finetune_options)
    if cfg.finetuned_on is None:
        raise FtprobeError("checkpoint dynamics need --finetuned-on TASK (not --after)")
    if not ft.get("save_every"):
        raise FtprobeError("checkpoint dynamics need intermediate checkpoints; add --save-every N")
    spec, data = load_task(cfg.task)
    final = finetuned_checkpoint(cfg.model, cfg.finetuned_on, **ft)
    series: list[tuple[int, str]] = [(0, cfg.model)]
    series += [(step, str(path)) for step, path in checkpoint_series(final)]
    per_step: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    base: dict[int, Geometry] = {}
    probe = cfg.geometry_probe
    options = cfg.options_of(probe)
    layers: list[int] = []
    for step, name in series:
        log(f"checkpoint step {step}: {name}")
        encoder = load_encoder(name)
        layers = layers or layer_indices(cfg.layers, encoder.num_layers)
        vecs = split_vectors(
            spec, data, encoder, cfg.device, cfg.batch_size, pool=getattr(cfg, "pooling", None)
        )
        entry: dict[str, Any] = {"step": step, "checkpoint": portable_model(name), "layers": {}}
        for layer in layers:
            train, _ = layer_data(data, vecs, layer, cfg.max_train, cfg.max_test, cfg.seed)
            arrays[centroid_key(step, layer)] = centroids(train)
            geo = fit_only(probe, options, train, cfg.seed).geometry
            if geo is None:
                raise FtprobeError(f"probe {probe!r} gave no geometry part; its plugin must")
            if step == 0:
                base[layer] = geo
            sep = geo.separable and base[layer].separable
            entry["layers"][str(layer)] = {
                **asdict(geo),
                "similarity_to_original": (
                    pearson(base[layer].pair_distances, geo.pair_distances) if sep else None
                ),
            }
        per_step.append(entry)
    record = DynamicsRecord(
        probe=probe,
        config={**asdict(cfg), **portable_models(cfg.model, None), "out": str(out)},
        task={"name": spec.name, "target": data.target, "labels": data.labels},
        checkpoint=portable_model(str(final)),
        layers_probed=layers,
        steps=[DynamicsStep(**step) for step in per_step],
        seconds=round(time.perf_counter() - t0, 3),
    )
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic.write_bytes(out / CENTROIDS_FILE, buf.getvalue())
    write_record(out / RESULT_FILE, record)
    return record.to_json()


def load_centroids(out: Path) -> dict[str, np.ndarray]:
    with np.load(Path(out) / CENTROIDS_FILE) as npz:
        return {k: npz[k] for k in npz.files}
