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
from ftprobe.api import ProbeResult
from ftprobe.engine.extract import split_vectors
from ftprobe.engine.finetune import after_encoder, encoder_for, encoder_identity
from ftprobe.engine.loading import control_task, load_task
from ftprobe.engine.pooling import resolve_pooling
from ftprobe.engine.probing import fit_probe, layer_indices, make_probe, probe_data, with_device
from ftprobe.engine.rundir import DEFAULT_RUNS_DIR, slug, versions, write_run_dir
from ftprobe.pluginmanager import encoders, probes, tasks
from ftprobe.progress import log


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
    after: str | None = None  # probe this encoder (fine-tuned elsewhere) instead of ``model``
    pooling: str | None = None  # None: the target kind's default

    def default_out(self) -> Path:
        parts = [self.task, self.model, self.probe]
        if self.finetuned_on:
            parts.append(f"ft-{self.finetuned_on}")
        if self.after:
            parts.append(f"after-{self.after}")
        if self.pooling:
            parts.append(f"pool-{self.pooling}")
        parts += [f"layer-{self.layers}", f"seed{self.seed}"]
        return DEFAULT_RUNS_DIR / slug(*parts)


def run(config: RunConfig) -> dict[str, Any]:
    """Run one probe over the chosen layers and write the run directory. Returns result.json."""
    return run_with_results(config)[0]


def run_with_results(config: RunConfig) -> tuple[dict[str, Any], dict[int, ProbeResult]]:
    """:func:`run`, also returning each layer's :class:`ProbeResult` (with its typed parts)."""
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
    t_load = time.perf_counter()

    vecs = split_vectors(spec, data, encoder, config.device, config.batch_size, pool=config.pooling)
    t_encode = time.perf_counter()

    per_layer: dict[str, Any] = {}
    outputs: dict[int, ProbeResult] = {}
    for layer in layers:
        log(
            f"[bold]layer {layer}[/]: fitting {config.probe} on "
            f"{len(data.splits['train'].examples)} train examples"
        )
        tl = time.perf_counter()
        train = probe_data(data, vecs["train"], layer, "train")
        test = probe_data(data, vecs["test"], layer, "test")
        result = fit_probe(config.probe, probe_options, train, test, config.seed)
        outputs[layer] = result
        per_layer[str(layer)] = {
            "main_metric": result.main_metric,
            "seconds": round(time.perf_counter() - tl, 3),
            **result.metrics,
        }
    t_probe = time.perf_counter()

    out = Path(config.out) if config.out else config.default_out()
    record: dict[str, Any] = {
        "ftprobe_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {**asdict(config), "out": str(out)},
        "seed": config.seed,
        "task": {
            "name": spec.name,
            "target": spec.target,
            "labels": data.labels,
            "n_examples": {s: len(sp.examples) for s, sp in data.splits.items()},
            "unseen_label_examples": {s: data.unseen(s) for s in data.splits if s != "train"},
            "files": {
                s: [{"path": str(f.path), "sha256": f.sha256} for f in sp.files]
                for s, sp in data.splits.items()
            },
        },
        "encoder": {
            "name": encoder.name,
            "source": encoder.source,
            "fingerprint": encoder.fingerprint,
            "num_layers": encoder.num_layers,
            "hidden_size": encoder.hidden_size,
        },
        "pooling": pooling,
        "probe": config.probe,
        "layers": per_layer,
        "versions": versions(),
        "timings": {
            "load_s": round(t_load - t0, 3),
            "encode_s": round(t_encode - t_load, 3),
            "probe_s": round(t_probe - t_encode, 3),
            "total_s": round(time.perf_counter() - t0, 3),
        },
    }
    if config.after:  # the encoder it was fine-tuned from
        record["base_encoder"] = encoder_identity(encoder_for(config.model))
    write_run_dir(out, record, outputs)
    return record, outputs


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
    record = {
        "kind": "selectivity",
        "schema_version": 1,
        "task": task_record["task"]["name"],
        "control": control_record["task"]["name"],
        "probe": config.probe,
        "encoder": task_record["encoder"]["name"],
        "runs": {"task": str(out), "control": str(control_out)},
        "layers": rows,
    }
    atomic.write_json(out / SELECTIVITY_FILE, record)
    atomic.write_text(out / "selectivity.csv", selectivity_csv(rows))
    return record


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
