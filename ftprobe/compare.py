"""Before vs after fine-tuning, layer by layer: classifier accuracy, DirectProbe clusters and
linearity, per-label minimum distance change, and spatial similarity (Pearson of label-pair
distance vectors) before vs after and train vs test.

The similarities are computed only where the spaces compared are linearly separable (the
DirectProbe cluster count equals the label count); missing label pairs are dropped, not 0.
"""

from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftprobe import __version__, atomic
from ftprobe.errors import FtprobeError
from ftprobe.progress import log
from ftprobe.stats import min_distance_change, pearson

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from ftprobe.api import LoadedEncoder, ProbeData, TaskData, TaskSpec

DEFAULT_RUNS_DIR = Path("ftprobe-runs")
RESULT_FILE = "compare.json"
DP_KEYS = ("n_clusters", "n_labels", "n_train_labels", "linearly_separable", "accuracy")


def slug(*parts: object) -> str:
    return "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", str(p)).strip("-") for p in parts)


@dataclass
class CompareConfig:
    """Everything that decides one ``ftprobe compare``."""

    task: str
    model: str
    finetuned_on: str
    layers: str = "last"
    seed: int = 0
    device: str = "cpu"
    batch_size: int = 64
    classifier: str = "classifier"
    directprobe: str = "directprobe"
    classifier_options: dict[str, Any] = field(default_factory=dict)
    directprobe_options: dict[str, Any] = field(default_factory=dict)
    finetune_options: dict[str, Any] = field(default_factory=dict)
    max_train: int | None = None  # probe on a seeded subset of the vectors (quick runs)
    max_test: int | None = None
    out: Path | None = None

    def default_out(self) -> Path:
        return DEFAULT_RUNS_DIR / slug(
            "compare",
            self.task,
            self.model,
            f"ft-{self.finetuned_on}",
            f"layer-{self.layers}",
            f"seed{self.seed}",
        )


def subsample(data: ProbeData, n: int | None, seed: int = 0) -> ProbeData:
    """A seeded subset of ``n`` rows (all rows when ``n`` is None or not smaller)."""
    import numpy as np

    from ftprobe.api import ProbeData

    if n is None or n >= len(data.y):
        return data
    keep = np.sort(np.random.default_rng(seed).choice(len(data.y), size=n, replace=False))
    return ProbeData(X=np.asarray(data.X[keep]), y=data.y[keep], labels=data.labels)


def separable(metrics: dict[str, Any]) -> bool:
    return bool(metrics.get("linearly_separable"))


def similarity(a: dict[str, Any], b: dict[str, Any]) -> tuple[float | None, str]:
    """Pearson of two DirectProbe label-pair distance vectors, with the reason when None."""
    if not (separable(a) and separable(b)):
        return None, "not linearly separable"
    r = pearson(a.get("vec") or [], b.get("vec") or [])
    return r, "" if r is not None else "too few shared label pairs"


@dataclass
class Space:
    """One encoder's train/test probe data at one layer, with the probe results on it."""

    train: ProbeData
    test: ProbeData
    classifier: dict[str, Any] = field(default_factory=dict)
    dp_train: dict[str, Any] = field(default_factory=dict)  # DirectProbe fit on train
    dp_test: dict[str, Any] = field(default_factory=dict)  # DirectProbe fit on test


def fit_stats(name: str, options: dict[str, Any], data: ProbeData, seed: int) -> dict[str, Any]:
    """DirectProbe's spatial metrics of ``data`` alone (clusters, linearity, distances).

    They come from the fit; the evaluation runs on one point only, to skip nearest-hull
    predictions nobody reads (its ``accuracy`` is dropped)."""
    from ftprobe.pipeline import fit_probe

    metrics = dict(fit_probe(name, options, data, subsample(data, 1, seed), seed).metrics)
    metrics["accuracy"] = None
    return metrics


def probe_space(space: Space, cfg: CompareConfig) -> Space:
    """Run the classifier and DirectProbe (on train, and on test alone) on one space."""
    from ftprobe.pipeline import fit_probe

    clf = fit_probe(cfg.classifier, cfg.classifier_options, space.train, space.test, cfg.seed)
    space.classifier = clf.metrics
    dp = fit_probe(cfg.directprobe, cfg.directprobe_options, space.train, space.test, cfg.seed)
    space.dp_train = dp.metrics
    space.dp_test = fit_stats(cfg.directprobe, cfg.directprobe_options, space.test, cfg.seed)
    return space


def compare_spaces(layer: int, before: Space, after: Space) -> dict[str, Any]:
    """Every before/after field for one layer, from two probed spaces."""
    b_acc, a_acc = before.classifier.get("accuracy"), after.classifier.get("accuracy")
    ba_r, ba_why = similarity(before.dp_train, after.dp_train)
    tt_b, tt_b_why = similarity(before.dp_train, before.dp_test)
    tt_a, tt_a_why = similarity(after.dp_train, after.dp_test)
    change = min_distance_change(
        before.dp_train.get("outside_min") or {}, after.dp_train.get("outside_min") or {}
    )
    return {
        "layer": layer,
        "n_train": int(len(before.train.y)),
        "n_test": int(len(before.test.y)),
        "classifier": {
            "before": b_acc,
            "before_std": before.classifier.get("accuracy_std"),
            "after": a_acc,
            "after_std": after.classifier.get("accuracy_std"),
            "change": (a_acc - b_acc) if b_acc is not None and a_acc is not None else None,
        },
        "directprobe": {
            "before": {k: before.dp_train.get(k) for k in DP_KEYS},
            "after": {k: after.dp_train.get(k) for k in DP_KEYS},
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
        "label_pairs": before.dp_train.get("label_pairs"),
        "vec": {
            "before_train": before.dp_train.get("vec"),
            "after_train": after.dp_train.get("vec"),
            "before_test": before.dp_test.get("vec"),
            "after_test": after.dp_test.get("vec"),
        },
    }


def _spaces(data: TaskData, vecs: dict[str, np.ndarray], layer: int, cfg: CompareConfig) -> Space:
    from ftprobe.pipeline import probe_data

    train = subsample(probe_data(data, vecs["train"], layer, "train"), cfg.max_train, cfg.seed)
    test = subsample(probe_data(data, vecs["test"], layer, "test"), cfg.max_test, cfg.seed)
    return Space(train=train, test=test)


def encode(
    spec: TaskSpec, data: TaskData, encoder: LoadedEncoder, cfg: CompareConfig
) -> dict[str, np.ndarray]:
    from ftprobe.extract import vectors

    return {
        s: vectors(spec, data, s, encoder, device=cfg.device, batch_size=cfg.batch_size)
        for s in ("train", "test")
    }


def compare(cfg: CompareConfig) -> dict[str, Any]:
    """Run the comparison and write ``compare.json``, ``compare.csv`` and
    ``min_distance.csv`` into the output directory. Returns the JSON record."""
    from ftprobe.pipeline import layer_indices, load_encoder, load_task
    from ftprobe.registry import encoders, probes, tasks

    t0 = time.perf_counter()
    tasks().get(cfg.task)
    tasks().get(cfg.finetuned_on)
    encoders().get(cfg.model)
    probes().get(cfg.classifier)
    probes().get(cfg.directprobe)
    spec, data = load_task(cfg.task)
    original = load_encoder(cfg.model)
    tuned = load_encoder(cfg.model, cfg.finetuned_on, **cfg.finetune_options)
    layers = layer_indices(cfg.layers, original.num_layers)
    if tuned.num_layers != original.num_layers:
        raise FtprobeError(
            f"fine-tuned checkpoint {tuned.source} has {tuned.num_layers} layers, the original "
            f"{original.num_layers}; delete it from the cache and fine-tune again"
        )
    vec_before = encode(spec, data, original, cfg)
    vec_after = encode(spec, data, tuned, cfg)
    rows = []
    for layer in layers:
        log(f"[bold]layer {layer}[/]: probing before and after fine-tuning on {cfg.finetuned_on}")
        before = probe_space(_spaces(data, vec_before, layer, cfg), cfg)
        after = probe_space(_spaces(data, vec_after, layer, cfg), cfg)
        rows.append(compare_spaces(layer, before, after))
    out = Path(cfg.out) if cfg.out else cfg.default_out()
    record = {
        "kind": "compare",
        "ftprobe_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {**asdict(cfg), "out": str(out)},
        "task": {"name": spec.name, "target": data.target, "labels": data.labels},
        "encoders": {
            "before": {"name": original.name, "fingerprint": original.fingerprint},
            "after": {
                "name": tuned.name,
                "source": str(tuned.source),
                "fingerprint": tuned.fingerprint,
            },
        },
        "layers": rows,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    write_compare(out, record)
    return record


CSV_COLUMNS = (
    ("layer", lambda r: r["layer"]),
    ("classifier_before", lambda r: r["classifier"]["before"]),
    ("classifier_after", lambda r: r["classifier"]["after"]),
    ("classifier_change", lambda r: r["classifier"]["change"]),
    ("clusters_before", lambda r: r["directprobe"]["before"]["n_clusters"]),
    ("clusters_after", lambda r: r["directprobe"]["after"]["n_clusters"]),
    ("n_labels", lambda r: r["directprobe"]["before"]["n_labels"]),
    ("separable_before", lambda r: r["directprobe"]["before"]["linearly_separable"]),
    ("separable_after", lambda r: r["directprobe"]["after"]["linearly_separable"]),
    ("dp_accuracy_before", lambda r: r["directprobe"]["before"]["accuracy"]),
    ("dp_accuracy_after", lambda r: r["directprobe"]["after"]["accuracy"]),
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


def write_compare(out: Path, record: dict[str, Any]) -> None:
    """Write the comparison files (each atomically) and its plot into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out / RESULT_FILE, record)
    atomic.write_text(out / "compare.csv", to_csv(record["layers"]))
    atomic.write_text(out / "min_distance.csv", min_distance_csv(record["layers"]))
    from ftprobe.plots import plot_compare

    plot_compare(record, out / "compare.png")


def table_rows(record: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the human table (one row per layer)."""

    def f(x: Any, spec: str = ".3f") -> str:
        return "-" if x is None else format(x, spec)

    cols = [
        "layer",
        "clf b",
        "clf a",
        "clusters b/a",
        "labels",
        "min-d +/-",
        "mean Δ",
        "r b/a",
        "r tt b",
        "r tt a",
    ]
    rows = []
    for r in record["layers"]:
        dp, md = r["directprobe"], r["min_distance"]
        rows.append(
            [
                str(r["layer"]),
                f(r["classifier"]["before"]),
                f(r["classifier"]["after"]),
                f"{dp['before']['n_clusters']}/{dp['after']['n_clusters']}",
                str(dp["before"].get("n_train_labels") or dp["before"]["n_labels"]),
                f"{md['increased']}/{md['decreased']}",
                f(md["mean_change"], "+.4f"),
                f(r["before_after_similarity"]),
                f(r["train_test_similarity"]["before"]),
                f(r["train_test_similarity"]["after"]),
            ]
        )
    return cols, rows
