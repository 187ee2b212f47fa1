"""Before vs after fine-tuning, layer by layer: the accuracy of a probe that provides
``accuracy`` (by default the classifier), the clusters and linearity of a probe that provides
``geometry`` (by default DirectProbe), per-label minimum distance change, and spatial
similarity (Pearson of label-pair distance vectors) before vs after and train vs test.

The similarities are computed only where the spaces compared are linearly separable (one
cluster per label); missing label pairs are dropped, not 0.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ftprobe import __version__, atomic
from ftprobe.api import Accuracy, Geometry, ProbeData
from ftprobe.engine.extract import split_vectors
from ftprobe.engine.finetune import after_encoder, encoder_for, encoder_identity
from ftprobe.engine.loading import control_task, load_task
from ftprobe.engine.pooling import resolve_pooling
from ftprobe.engine.probing import (
    fit_only,
    fit_probe,
    layer_data,
    layer_indices,
    make_probe,
    probe_spec,
)
from ftprobe.engine.provenance import portable_models
from ftprobe.engine.rundir import DEFAULT_RUNS_DIR, slug
from ftprobe.engine.stats import min_distance_change, pearson
from ftprobe.errors import FtprobeError
from ftprobe.pluginmanager import default_probe, encoders, tasks
from ftprobe.progress import log
from ftprobe.records import CompareLayer, CompareRecord, write_record

RESULT_FILE = "compare.json"


@dataclass
class CompareConfig:
    """Everything that decides one ``ftprobe compare``.

    ``accuracy_probe`` and ``geometry_probe`` default (empty) to the probes the plugins declare
    the defaults for those parts; ``probe_options`` holds each probe's options by probe name."""

    task: str
    model: str
    finetuned_on: str | None = None
    layers: str = "last"
    seed: int = 0
    device: str = "cpu"
    batch_size: int = 64
    accuracy_probe: str = ""
    geometry_probe: str = ""
    probe_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    finetune_options: dict[str, Any] = field(default_factory=dict)
    max_train: int | None = None  # probe on a seeded subset of the vectors (quick runs)
    max_test: int | None = None
    out: Path | None = None
    after: str | None = None  # an encoder fine-tuned elsewhere, instead of ``finetuned_on``
    pooling: str | None = None  # None: the target kind's default
    controls: bool = False  # also probe the task's control task, before and after

    def default_out(self) -> Path:
        other = f"ft-{self.finetuned_on}" if self.finetuned_on else f"after-{self.after}"
        pool = [f"pool-{self.pooling}"] if self.pooling else []
        return DEFAULT_RUNS_DIR / slug(
            "compare",
            self.task,
            self.model,
            other,
            *pool,
            f"layer-{self.layers}",
            f"seed{self.seed}",
        )

    @property
    def after_label(self) -> str:
        """How the after encoder is named in logs and titles."""
        return f"fine-tuned on {self.finetuned_on}" if self.finetuned_on else str(self.after)

    def resolved(self) -> CompareConfig:
        """This config with both probes named (the declared defaults filled in) and checked."""
        acc = self.accuracy_probe or default_probe("accuracy", who="compare")
        geo = self.geometry_probe or default_probe("geometry", who="compare")
        for name, part in ((acc, "accuracy"), (geo, "geometry")):
            if part not in probe_spec(name).provides:
                raise FtprobeError(
                    f"compare needs a probe that provides {part}; {name!r} provides "
                    f"{', '.join(probe_spec(name).provides) or 'nothing'}"
                )
        return replace(self, accuracy_probe=acc, geometry_probe=geo)

    def options_of(self, probe: str) -> dict[str, Any]:
        return dict(self.probe_options.get(probe, {}))


def similarity(a: Geometry | None, b: Geometry | None) -> tuple[float | None, str]:
    """Pearson of two label-pair distance vectors, with the reason when None."""
    if not (a is not None and a.separable and b is not None and b.separable):
        return None, "not linearly separable"
    r = pearson(a.pair_distances, b.pair_distances)
    return r, "" if r is not None else "too few shared label pairs"


@dataclass
class Space:
    """One encoder's train/test probe data at one layer, with the probe results on it."""

    train: ProbeData
    test: ProbeData
    accuracy: Accuracy | None = None  # the accuracy probe on test
    geometry: Geometry | None = None  # the geometry probe fit on train
    geometry_accuracy: float | None = None  # the geometry probe's own accuracy on test
    geometry_test: Geometry | None = None  # the geometry probe fit on test alone


def probe_space(space: Space, cfg: CompareConfig) -> Space:
    """Run the accuracy probe and the geometry probe (on train, and on test alone)."""
    acc, geo = cfg.accuracy_probe, cfg.geometry_probe
    space.accuracy = fit_probe(acc, cfg.options_of(acc), space.train, space.test, cfg.seed).accuracy
    fitted = fit_probe(geo, cfg.options_of(geo), space.train, space.test, cfg.seed)
    space.geometry = fitted.geometry
    space.geometry_accuracy = fitted.accuracy.mean if fitted.accuracy else None
    space.geometry_test = fit_only(geo, cfg.options_of(geo), space.test, cfg.seed).geometry
    return space


def control_row(layer: int, task: tuple[Space, Space], control: tuple[Space, Space]) -> dict:
    """One layer of the control comparison: the control task's accuracy, clusters and
    separability before and after, and the selectivity (task minus control accuracy)."""
    row: dict[str, Any] = {"layer": layer}
    for side, t, c in (("before", task[0], control[0]), ("after", task[1], control[1])):
        t_acc = t.accuracy.mean if t.accuracy else None
        c_acc = c.accuracy.mean if c.accuracy else None
        row[side] = {
            "control_accuracy": c_acc,
            "selectivity": None if t_acc is None or c_acc is None else t_acc - c_acc,
            "control_clusters": c.geometry.clusters if c.geometry else None,
            "control_separable": c.geometry.separable if c.geometry else None,
        }
    return row


def probe_control(space: Space, cfg: CompareConfig) -> Space:
    """The accuracy probe and the geometry probe's fit (on train) on a control task."""
    acc, geo = cfg.accuracy_probe, cfg.geometry_probe
    space.accuracy = fit_probe(acc, cfg.options_of(acc), space.train, space.test, cfg.seed).accuracy
    space.geometry = fit_only(geo, cfg.options_of(geo), space.train, cfg.seed).geometry
    return space


def _shape(g: Geometry | None, accuracy: float | None) -> dict[str, Any]:
    """A geometry part's headline numbers (no vectors), with the probe's own accuracy."""
    if g is None:
        return {"accuracy": accuracy}
    head = {k: v for k, v in asdict(g).items() if k not in ("label_pairs", "pair_distances")}
    head.pop("label_min_distance")
    return {**head, "accuracy": accuracy}


def compare_spaces(layer: int, before: Space, after: Space) -> dict[str, Any]:
    """Every before/after field for one layer, from two probed spaces."""
    b_acc = before.accuracy.mean if before.accuracy else None
    a_acc = after.accuracy.mean if after.accuracy else None
    ba_r, ba_why = similarity(before.geometry, after.geometry)
    tt_b, tt_b_why = similarity(before.geometry, before.geometry_test)
    tt_a, tt_a_why = similarity(after.geometry, after.geometry_test)
    change = min_distance_change(
        before.geometry.label_min_distance if before.geometry else {},
        after.geometry.label_min_distance if after.geometry else {},
    )

    def distances(g: Geometry | None) -> list[float | None] | None:
        return g.pair_distances if g else None

    return {
        "layer": layer,
        "n_train": int(len(before.train.y)),
        "n_test": int(len(before.test.y)),
        "accuracy": {
            "before": b_acc,
            "before_std": before.accuracy.std if before.accuracy else None,
            "after": a_acc,
            "after_std": after.accuracy.std if after.accuracy else None,
            "change": (a_acc - b_acc) if b_acc is not None and a_acc is not None else None,
        },
        "geometry": {
            "before": _shape(before.geometry, before.geometry_accuracy),
            "after": _shape(after.geometry, after.geometry_accuracy),
        },
        "min_distance": change,
        "before_after_similarity": ba_r,
        "train_test_similarity": {"before": tt_b, "after": tt_a},
        "why_missing": {
            k: v
            for k, v in {
                "before_after_similarity": ba_why,
                "train_test_similarity.before": tt_b_why,
                "train_test_similarity.after": tt_a_why,
            }.items()
            if v
        },
        "label_pairs": before.geometry.label_pairs if before.geometry else None,
        "pair_distances": {
            "before_train": distances(before.geometry),
            "after_train": distances(after.geometry),
            "before_test": distances(before.geometry_test),
            "after_test": distances(after.geometry_test),
        },
    }


def compare(cfg: CompareConfig) -> dict[str, Any]:
    """Run the comparison and write ``compare.json``, ``compare.csv`` and
    ``min_distance.csv`` into the output directory. Returns the JSON record."""
    t0 = time.perf_counter()
    if (cfg.finetuned_on is None) == (cfg.after is None):
        raise FtprobeError("give exactly one of --finetuned-on TASK or --after MODEL")
    tasks().get(cfg.task)
    if cfg.finetuned_on is not None:
        tasks().get(cfg.finetuned_on)
    else:
        encoders().get(str(cfg.after))
    encoders().get(cfg.model)
    cfg = cfg.resolved()
    for name in (cfg.accuracy_probe, cfg.geometry_probe):
        make_probe(name, cfg.options_of(name))  # bad options fail before any loading
    spec, data = load_task(cfg.task)
    pooling = resolve_pooling(data.target, cfg.pooling)
    original = encoder_for(cfg.model)
    tuned = after_encoder(cfg.model, cfg.finetuned_on, cfg.after, **cfg.finetune_options)
    layers = layer_indices(cfg.layers, original.num_layers)
    if tuned.num_layers != original.num_layers:
        raise FtprobeError(
            f"fine-tuned checkpoint {tuned.source} has {tuned.num_layers} layers, the original "
            f"{original.num_layers}; delete it from the cache and fine-tune again"
        )
    vec_before = split_vectors(spec, data, original, cfg.device, cfg.batch_size, pool=pooling)
    vec_after = split_vectors(spec, data, tuned, cfg.device, cfg.batch_size, pool=pooling)
    caps = (cfg.max_train, cfg.max_test, cfg.seed)
    control = None
    if cfg.controls:
        control_name = control_task(cfg.task, cfg.seed)
        c_spec, c_data = load_task(control_name)
        c_before = split_vectors(c_spec, c_data, original, cfg.device, cfg.batch_size, pool=pooling)
        c_after = split_vectors(c_spec, c_data, tuned, cfg.device, cfg.batch_size, pool=pooling)
        control = {"task": control_name, "layers": []}
    rows = []
    for layer in layers:
        log(f"[bold]layer {layer}[/]: probing before and after ({cfg.after_label})")
        before = probe_space(Space(*layer_data(data, vec_before, layer, *caps)), cfg)
        after = probe_space(Space(*layer_data(data, vec_after, layer, *caps)), cfg)
        rows.append(compare_spaces(layer, before, after))
        if control is not None:
            log(f"[bold]layer {layer}[/]: the control task {control['task']}, before and after")
            spaces = [
                probe_control(Space(*layer_data(c_data, vecs, layer, *caps)), cfg)
                for vecs in (c_before, c_after)
            ]
            control["layers"].append(control_row(layer, (before, after), tuple(spaces)))
    out = Path(cfg.out) if cfg.out else cfg.default_out()
    record = CompareRecord(
        probes={"accuracy": cfg.accuracy_probe, "geometry": cfg.geometry_probe},
        ftprobe_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        config={**asdict(cfg), **portable_models(cfg.model, cfg.after), "out": str(out)},
        task={"name": spec.name, "target": data.target, "labels": data.labels},
        pooling=pooling,
        encoders={"before": encoder_identity(original), "after": encoder_identity(tuned)},
        layers=[CompareLayer(**row) for row in rows],
        seconds=round(time.perf_counter() - t0, 3),
        controls=control,
    )
    write_compare(out, record)
    return record.to_json()


CSV_COLUMNS = (
    ("layer", lambda r: r["layer"]),
    ("classifier_before", lambda r: r["accuracy"]["before"]),
    ("classifier_after", lambda r: r["accuracy"]["after"]),
    ("classifier_change", lambda r: r["accuracy"]["change"]),
    ("clusters_before", lambda r: r["geometry"]["before"].get("clusters")),
    ("clusters_after", lambda r: r["geometry"]["after"].get("clusters")),
    ("n_labels", lambda r: r["geometry"]["before"].get("labels")),
    ("separable_before", lambda r: r["geometry"]["before"].get("separable")),
    ("separable_after", lambda r: r["geometry"]["after"].get("separable")),
    ("dp_accuracy_before", lambda r: r["geometry"]["before"]["accuracy"]),
    ("dp_accuracy_after", lambda r: r["geometry"]["after"]["accuracy"]),
    ("min_dist_increased", lambda r: r["min_distance"]["increased"]),
    ("min_dist_decreased", lambda r: r["min_distance"]["decreased"]),
    ("min_dist_mean_change", lambda r: r["min_distance"]["mean_change"]),
    ("before_after_similarity", lambda r: r["before_after_similarity"]),
    ("train_test_similarity_before", lambda r: r["train_test_similarity"]["before"]),
    ("train_test_similarity_after", lambda r: r["train_test_similarity"]["after"]),
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([name for name, _ in CSV_COLUMNS])
    for row in rows:
        w.writerow([_cell(get(row)) for _, get in CSV_COLUMNS])
    return buf.getvalue()


def min_distance_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["layer", "label", "before", "after", "change"])
    for row in rows:
        for label, d in row["min_distance"]["per_label"].items():
            w.writerow([row["layer"], label, *(_cell(d[k]) for k in ("before", "after", "change"))])
    return buf.getvalue()


def write_compare(out: Path, record: CompareRecord) -> None:
    """Write the comparison files (each atomically) into ``out``; the report draws the plot."""
    out.mkdir(parents=True, exist_ok=True)
    write_record(out / RESULT_FILE, record)
    rows = record.to_json()["layers"]
    atomic.write_text(out / "compare.csv", to_csv(rows))
    atomic.write_text(out / "min_distance.csv", min_distance_csv(rows))
    if record.controls:
        atomic.write_text(out / "controls.csv", controls_csv(record.controls["layers"]))


def controls_csv(rows: list[dict[str, Any]]) -> str:
    """One line per layer: the control task's numbers before and after, and selectivity."""
    keys = ("control_accuracy", "selectivity", "control_clusters", "control_separable")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["layer", *(f"{k}_{side}" for side in ("before", "after") for k in keys)])
    for row in rows:
        w.writerow(
            [row["layer"], *(_cell(row[side][k]) for side in ("before", "after") for k in keys)]
        )
    return buf.getvalue()
