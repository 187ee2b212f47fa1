"""The ``run`` study: task -> encoder -> cached vectors -> probe per layer -> run directory."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ftprobe import __version__, atomic
from ftprobe.api import LoadedEncoder, ProbeResult, TaskData, TaskSpec
from ftprobe.engine.extract import EXTRACTION_VERSION, split_vectors
from ftprobe.engine.finetune import after_encoder, encoder_for, encoder_identity
from ftprobe.engine.loading import control_task, load_task
from ftprobe.engine.pooling import resolve_pooling
from ftprobe.engine.probing import fit_probe, layer_data, layer_indices, make_probe, with_device
from ftprobe.engine.provenance import (
    machine,
    portable_model,
    portable_models,
    portable_path,
    versions,
)
from ftprobe.engine.rundir import (
    DEFAULT_RUNS_DIR,
    RUN_SCHEMA_VERSION,
    read_layer,
    short_hash,
    slug,
    write_layer,
)
from ftprobe.pluginmanager import encoders, probes, tasks
from ftprobe.progress import log
from ftprobe.records import RunRecord, SelectivityRecord, write_record

RESULT_FILE = "result.json"


@dataclass
class RunConfig:
    """Everything that decides one ``ftprobe run``."""

    task: str
    model: str
    probe: str
    layers: str = "last"
    seed: int = 0
    probe_options: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    batch_size: int = 64
    finetuned_on: str | None = None
    finetune_options: dict[str, Any] = field(default_factory=dict)
    out: Path | None = None
    max_train: int | None = None  # seeded subsets of the probe's train/test data
    max_test: int | None = None
    overwrite: bool = False  # recompute layers already done with the same configuration
    after: str | None = None  # probe this encoder (fine-tuned elsewhere) instead of ``model``
    pooling: str | None = None  # None: the target kind's default

    def identity(self, spec: TaskSpec, data: TaskData, encoder: LoadedEncoder) -> dict[str, Any]:
        """Everything that changes a layer's result (not the layer list, device or batch)."""
        return {
            "schema": RUN_SCHEMA_VERSION,
            "task": [
                spec.name,
                spec.version,
                {s: sp.fingerprint() for s, sp in data.splits.items()},
            ],
            "encoder": [self.model, encoder.fingerprint],
            "after": [
                self.finetuned_on,
                _finetune_identity(self.finetune_options),
                portable_model(self.after) if self.after else None,
            ],
            "probe": [self.probe, self.probe_options],
            "seed": self.seed,
            "subsets": [self.max_train, self.max_test],
            "pooling": [
                spec.target,
                resolve_pooling(data.target, self.pooling),
                EXTRACTION_VERSION,
            ],
        }

    def default_out(self, identity: dict[str, Any] | None = None) -> Path:
        """Readable name plus a short hash of everything that changes the result."""
        parts = [self.task, portable_model(self.model), self.probe]
        if self.finetuned_on:
            parts.append(f"ft-{self.finetuned_on}")
        if self.after:
            parts.append(f"after-{portable_model(self.after)}")
        if self.pooling:
            parts.append(f"pool-{self.pooling}")
        parts += [f"layer-{self.layers}", f"seed{self.seed}"]
        if identity is not None:
            parts.append(short_hash({**identity, "layers": self.layers}))
        return DEFAULT_RUNS_DIR / slug(*parts)


def _finetune_identity(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k not in ("device",)}


def run(config: RunConfig) -> dict[str, Any]:
    """Run one probe over the chosen layers and write the run directory. Returns result.json."""
    return run_with_results(config)[0]


def run_with_results(config: RunConfig) -> tuple[dict[str, Any], dict[int, ProbeResult]]:
    """:func:`run`, also returning each layer's :class:`ProbeResult` (with its typed parts).

    Each layer is written (atomically) as soon as it is done, with ``result.json`` updated;
    layers already done with the same configuration are reused unless ``overwrite``."""
    t0 = time.perf_counter()
    # Fail fast on any bad name before loading anything heavy.
    tasks().get(config.task)
    encoders().get(config.model)
    probes().get(config.probe)
    if config.finetuned_on:
        tasks().get(config.finetuned_on)
    if config.after:
        encoders().get(config.after)
    probe_options = with_device(config.probe, config.probe_options, config.device)
    make_probe(config.probe, probe_options)  # bad probe options fail here, before any loading
    spec, data = load_task(config.task)
    pooling = resolve_pooling(data.target, config.pooling)
    if config.after:
        encoder = after_encoder(config.model, after=config.after)
    else:
        encoder = encoder_for(config.model, config.finetuned_on, **config.finetune_options)
    layers = layer_indices(config.layers, encoder.num_layers)
    identity = config.identity(spec, data, encoder)
    key = short_hash(identity, 16)
    out = Path(config.out) if config.out else config.default_out(identity)
    t_load = time.perf_counter()

    record = RunRecord(
        key=key,
        complete=False,
        ftprobe_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        config={
            **asdict(config),
            **portable_models(config.model, config.after),
            "out": str(out),
        },
        seed=config.seed,
        task={
            "name": spec.name,
            "version": spec.version,
            "target": spec.target,
            "labels": data.labels,
            "n_examples": {s: len(sp.examples) for s, sp in data.splits.items()},
            "unseen_label_examples": {s: data.unseen(s) for s in data.splits if s != "train"},
            "files": {
                s: [{"path": portable_path(f.path), "sha256": f.sha256} for f in sp.files]
                for s, sp in data.splits.items()
            },
        },
        encoder={
            "name": portable_model(config.model),
            "fingerprint": encoder.fingerprint,
            "after": config.finetuned_on,
            "finetune": _finetune_identity(config.finetune_options)
            if config.finetuned_on
            else None,
            "num_layers": encoder.num_layers,
            "hidden_size": encoder.hidden_size,
        },
        pooling=pooling,
        probe=config.probe,
        probe_options_hash=short_hash(config.probe_options),
        layers={},
        versions=versions(),
        machine=machine(config.device),
        timings={},
    )
    per_layer: dict[str, Any] = record.layers
    outputs: dict[int, ProbeResult] = {}
    todo = []
    for layer in layers:
        done = None if config.overwrite else read_layer(out, layer, key)
        if done is None:
            todo.append(layer)
        else:
            per_layer[str(layer)], outputs[layer] = done
    if todo:
        log(f"{len(layers) - len(todo)} of {len(layers)} layers already done in {out}")
    vecs = (
        split_vectors(spec, data, encoder, config.device, config.batch_size, pool=config.pooling)
        if todo
        else {}
    )
    t_encode = time.perf_counter()
    for layer in todo:
        log(
            f"[bold]layer {layer}[/]: fitting {config.probe} on "
            f"{len(data.splits['train'].examples)} train examples"
        )
        tl = time.perf_counter()
        train, test = layer_data(data, vecs, layer, config.max_train, config.max_test, config.seed)
        result = fit_probe(config.probe, probe_options, train, test, config.seed)
        outputs[layer] = result
        entry = {
            "main_metric": result.main_metric,
            "seconds": round(time.perf_counter() - tl, 3),
            **result.metrics,
        }
        write_layer(out, layer, key, entry, result)
        per_layer[str(layer)] = entry
        write_record(out / RESULT_FILE, record)  # what is done so far survives a kill
    if config.after:  # the encoder it was fine-tuned from
        record.base_encoder = encoder_identity(encoder_for(config.model))
    record.layers = {str(layer): per_layer[str(layer)] for layer in layers}
    outputs = {layer: outputs[layer] for layer in layers}
    record.complete = True
    record.computed_layers = todo
    record.timings = {
        "load_s": round(t_load - t0, 3),
        "encode_s": round(t_encode - t_load, 3),
        "probe_s": round(time.perf_counter() - t_encode, 3),
        "total_s": round(time.perf_counter() - t0, 3),
    }
    write_record(out / RESULT_FILE, record)
    return record.to_json(), outputs


# ------------------------------------------------------------------------ controls
SELECTIVITY_FILE = "selectivity.json"


def run_with_controls(config: RunConfig) -> dict[str, Any]:
    """Run ``config`` and the same probe, with the same settings, on the task's control task
    (seeded with the run's seed) in ``<out>-control``; write ``selectivity.json`` and
    ``selectivity.csv`` into the task's run directory. Returns the selectivity record."""
    control = control_task(config.task, config.seed)
    task_record, task_results = run_with_results(config)
    out = Path(task_record["config"]["out"])
    control_out = out.with_name(out.name + "-control")
    control_record, control_results = run_with_results(
        replace(config, task=control, out=control_out)
    )
    rows = [
        selectivity_row(layer, task_results[layer], control_results[layer])
        for layer in task_results
    ]
    record = SelectivityRecord(
        task=task_record["task"]["name"],
        control=control_record["task"]["name"],
        probe=config.probe,
        encoder=task_record["encoder"]["name"],
        runs={"task": str(out), "control": str(control_out)},
        layers=rows,
    )
    write_record(out / SELECTIVITY_FILE, record)
    atomic.write_text(out / "selectivity.csv", selectivity_csv(rows))
    return record.to_json()


def selectivity_row(layer: int, task: ProbeResult, control: ProbeResult) -> dict[str, Any]:
    """One layer: each typed part of the task and of its control, and the selectivity
    (task accuracy minus control accuracy) where the probe provides accuracy."""
    row: dict[str, Any] = {"layer": layer}
    for side, result in (("task", task), ("control", control)):
        row[side] = {
            part: asdict(value)
            for part in ("accuracy", "geometry", "codelength")
            if (value := getattr(result, part)) is not None
        }
        for part in row[side].values():
            for key in ("label_pairs", "pair_distances", "label_min_distance", "per_label"):
                part.pop(key, None)
    if task.accuracy is not None and control.accuracy is not None:
        row["selectivity"] = task.accuracy.mean - control.accuracy.mean
    return row


def selectivity_csv(rows: list[dict[str, Any]]) -> str:
    """One line per layer: the headline number of every part, task and control, flattened."""
    columns: list[str] = []
    flat_rows = []
    for row in rows:
        flat: dict[str, Any] = {"layer": row["layer"], "selectivity": row.get("selectivity")}
        for side in ("task", "control"):
            for part, values in row[side].items():
                for key, value in values.items():
                    if not isinstance(value, list | dict):
                        flat[f"{side}_{part}_{key}"] = value
        flat_rows.append(flat)
        columns += [c for c in flat if c not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat_rows)
    return buf.getvalue()
