"""The run pipeline: task -> encoder -> cached vectors -> probe per layer -> run directory."""

from __future__ import annotations

import platform
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftprobe import __version__, atomic
from ftprobe.api import ProbeData, ProbeResult, ProbeSpec, TaskData, TaskSpec
from ftprobe.datafiles import DataSource
from ftprobe.errors import FtprobeError
from ftprobe.progress import log
from ftprobe.registry import encoders, probes, tasks

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from ftprobe.api import LoadedEncoder

DEFAULT_RUNS_DIR = Path("ftprobe-runs")


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

    def default_out(self) -> Path:
        parts = [self.task, self.model, self.probe]
        if self.finetuned_on:
            parts.append(f"ft-{self.finetuned_on}")
        parts += [f"layer-{self.layers}", f"seed{self.seed}"]
        slug = "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", p).strip("-") for p in parts)
        return DEFAULT_RUNS_DIR / slug


def load_task(name: str) -> tuple[TaskSpec, TaskData]:
    """Look a task up by name and load its splits."""
    spec = tasks().get(name)
    data = spec.load(DataSource())
    for required in ("train", "test"):
        if required not in data.splits:
            raise FtprobeError(f"task {name!r} has no {required!r} split; its plugin must give one")
    return spec, data


def load_encoder(
    model: str, finetuned_on: str | None = None, **finetune_options: Any
) -> LoadedEncoder:
    """The encoder ``model``, or that encoder fine-tuned on task ``finetuned_on``."""
    from ftprobe import extract

    encoders().get(model)  # unknown names fail here, before any heavy import
    if finetuned_on is None:
        return extract.load_encoder(model)
    tasks().get(finetuned_on)
    from ftprobe.finetune import finetuned_checkpoint

    return extract.load_encoder(str(finetuned_checkpoint(model, finetuned_on, **finetune_options)))


def layer_indices(option: str | int, num_layers: int) -> list[int]:
    """Parse ``last`` | ``all`` | ``N`` | ``0,3,6`` into layer indices (0 = embeddings)."""
    text = str(option).strip().lower()
    if text == "last":
        return [num_layers]
    if text == "all":
        return list(range(num_layers + 1))
    try:
        picked = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        picked = []
    if not picked:
        raise FtprobeError(f"bad --layer {option!r}; use last, all, a number or a list like 0,3,6")
    for layer in picked:
        if not 0 <= layer <= num_layers and not -num_layers - 1 <= layer < 0:
            raise FtprobeError(
                f"layer {layer} is out of range; this encoder has layers 0..{num_layers} "
                "(0 = embeddings)"
            )
    return sorted({layer % (num_layers + 1) for layer in picked})


def probe_data(task_data: TaskData, vecs: np.ndarray, layer: int, split: str) -> ProbeData:
    """Vectors of ``split`` at ``layer`` with label indices; examples whose label is unseen in
    training are dropped here (``TaskData.unseen`` counts them for the report)."""
    import numpy as np

    labels = task_data.labels
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index.get(ex.label, -1) for ex in task_data.splits[split].examples], np.int64)
    X = vecs[layer]
    if (y < 0).any():
        keep = np.flatnonzero(y >= 0)
        X, y = np.asarray(X[keep]), y[keep]
    return ProbeData(X=X, y=y, labels=labels)


def fit_probe(
    name: str, options: dict[str, Any], train: ProbeData, test: ProbeData, seed: int = 0
) -> ProbeResult:
    """Make a fresh probe ``name`` with ``options``, fit it on train, evaluate on test."""
    probe = make_probe(name, options)
    probe.fit(train, seed=seed)
    return probe.evaluate(test)


def make_probe(name: str, options: dict[str, Any]) -> Any:
    """A fresh, unfitted probe ``name`` made with ``options`` (which it checks)."""
    spec = probes().get(name)
    if not isinstance(spec, ProbeSpec):
        raise FtprobeError(
            f"{name!r} is a similarity measure, not a probe; run it with "
            f"`ftprobe similarity --measure {name}`"
        )
    try:
        return spec.factory(**options)
    except TypeError as exc:
        raise FtprobeError(f"bad --probe-option for probe {name!r}: {exc}") from None


def with_device(name: str, options: dict[str, Any], device: str) -> dict[str, Any]:
    """Hand ``--device`` to a probe that declares a ``device`` option (unless set)."""
    spec = probes().get(name)
    if "device" in options or device == "cpu" or not getattr(spec, "device_option", False):
        return options
    return {**options, "device": device}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"ftprobe": __version__, "python": platform.python_version()}
    for dist in ("torch", "transformers", "numpy", "scipy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def run(config: RunConfig) -> dict[str, Any]:
    """Run one probe over the chosen layers and write the run directory. Returns result.json."""
    t0 = time.perf_counter()
    # Fail fast on any bad name before loading anything heavy.
    tasks().get(config.task)
    encoders().get(config.model)
    probes().get(config.probe)
    if config.finetuned_on:
        tasks().get(config.finetuned_on)
    probe_options = with_device(config.probe, config.probe_options, config.device)
    make_probe(config.probe, probe_options)  # bad probe options fail here, before any loading
    from ftprobe.extract import vectors

    spec, data = load_task(config.task)
    encoder = load_encoder(config.model, config.finetuned_on, **config.finetune_options)
    layers = layer_indices(config.layers, encoder.num_layers)
    t_load = time.perf_counter()

    vecs = {
        split: vectors(
            spec, data, split, encoder, device=config.device, batch_size=config.batch_size
        )
        for split in ("train", "test")
    }
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
    write_run_dir(out, record, outputs)
    return record


def write_run_dir(out: Path, record: dict[str, Any], outputs: dict[int, ProbeResult]) -> None:
    """Write result.json and each layer's probe files into ``out`` atomically (all or nothing)."""
    with atomic.directory(out) as tmp:
        for layer, result in outputs.items():
            layer_dir = tmp / f"layer-{layer:02d}"
            for name, text in result.files.items():
                atomic.write_text(layer_dir / name, text)
            for name, png in result.plots.items():
                atomic.write_bytes(layer_dir / name, png)
        atomic.write_json(tmp / "result.json", record)
