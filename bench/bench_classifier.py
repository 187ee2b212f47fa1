"""Time the classifier probe against scikit-learn's MLPClassifier on the same data and protocol.

    pip install -e ".[bench]"                          # scikit-learn, threadpoolctl
    python bench/bench_classifier.py                   # ss-role vectors if the data is there
    python bench/bench_classifier.py -o paper_grid=true
    python bench/bench_classifier.py --vectors DIR     # from `ftprobe encode ... --out DIR`
    python bench/bench_classifier.py --synthetic --n 200000 --labels 17 --no-sklearn

Data: with ``--vectors DIR``, ``DIR/{train,test}/layer_KK.npy`` and ``labels.txt`` (the last
layer unless ``--layer``); else, when ``FTPROBE_DATA_DIR`` and ``FTPROBE_MODELS_DIR`` are set,
ss-role encoded by minilm-l3 through the Python API that ``ftprobe run`` uses (cached in
``FTPROBE_CACHE_DIR``); else (or with ``--synthetic``) Gaussian clusters, one per label, with
Zipf-like label frequencies. Both sides run in this process on one thread (``torch`` and every
BLAS behind numpy limited to 1 through threadpoolctl), so the ratio compares implementations,
not thread counts. Printed: wall seconds of each fit and the process CPU seconds (steadier
than wall time on a machine shared with other jobs; the load average is printed too).

The same protocol for scikit-learn (``--no-sklearn`` skips it):

* the same stratified, seeded validation split of train (``validation_split``) and the same
  grid: ``MLPClassifier(hidden_layer_sizes=sizes, alpha=l2, solver="adam",
  learning_rate_init=lr, batch_size=batch_size, random_state=seed)``, whose loss is the one
  ftprobe minimises (mean cross-entropy + ``0.5 * alpha * sum(W**2) / batch``);
* its built-in ``early_stopping`` cannot use a given split (it draws its own), so each epoch is
  one ``partial_fit`` call (one shuffled pass, Adam state kept) and the early stopping is
  ftprobe's rule on the same validation split: stop after ``patience`` epochs in which neither
  the validation accuracy rose nor the validation loss fell by a relative 1e-3, keep the
  weights of the best validation accuracy (ties: lower loss), at most ``max_iter`` epochs
  (``partial_fit`` checks its input on every call: 30 epochs of it took 5-8% longer than
  ``fit(max_iter=30)`` on 256x256 nets and 15-30% on 32x32 ones, measured on ss-role, so the
  ratio flatters ftprobe by about that much);
* the best configuration (highest validation accuracy, then lowest loss) is retrained with
  seeds ``seed .. seed+seeds-1`` on the fitting part; as in ftprobe, the grid's own run of
  the best configuration is the first of these when the grid saw the whole fitting part (it
  would be the same computation again), and test accuracy is the mean ± std over the seeds.

What differs: scikit-learn's own initialisation (Glorot) and shuffling. Both compute in float32
(the vectors are float32, which MLPClassifier keeps). An iteration is an epoch on both sides as
long as the training part is at most ``iter_size`` rows (ss-role: 3k). Fit seconds exclude the
scoring on test on both sides.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ftprobe.api import ProbeData
from ftprobe.plugins.probes.classifier import (
    hidden_name,
    make_classifier,
    make_linear,
    stratified_sample,
    validation_split,
)
from ftprobe.plugins.probes.classifier_options import Options


def synthetic(n: int, d: int, labels: int, seed: int) -> ProbeData:
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(1, labels + 1)
    y = rng.choice(labels, size=n, p=freq / freq.sum())
    centers = np.random.default_rng(0).normal(size=(labels, d)) * 0.15
    X = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    return ProbeData(X=X, y=y, labels=[f"l{i}" for i in range(labels)])


def from_dir(root: Path, layer: int | None) -> tuple[ProbeData, ProbeData, str]:
    """Train and test vectors written by ``ftprobe encode --out root``."""
    files = sorted((root / "train").glob("layer_*.npy"))
    if not files:
        raise SystemExit(f"no {root}/train/layer_*.npy; run ftprobe encode --out {root}")
    name = files[-1].name if layer is None else f"layer_{layer:02d}.npy"
    splits = {}
    for split in ("train", "test"):
        X = np.load(root / split / name)
        splits[split] = (X, (root / split / "labels.txt").read_text().splitlines()[: len(X)])
    labels = sorted(set(splits["train"][1]))
    index = {label: i for i, label in enumerate(labels)}
    out = []
    for X, names in splits.values():
        y = np.array([index.get(v, -1) for v in names], np.int64)
        out.append(ProbeData(X=X[y >= 0], y=y[y >= 0], labels=labels))
    return out[0], out[1], f"{root} {name}"


def from_api(task: str, model: str, layer: int | None) -> tuple[ProbeData, ProbeData, str]:
    """Vectors of ``task`` by ``model`` through the pipeline's own loaders (cached)."""
    from ftprobe.engine.extract import vectors
    from ftprobe.engine.loading import load_encoder, load_task
    from ftprobe.engine.probing import probe_data

    spec, data = load_task(task)
    encoder = load_encoder(model, None)
    vecs = {s: vectors(spec, data, s, encoder) for s in ("train", "test")}
    at = encoder.num_layers if layer is None else layer
    train, test = (probe_data(data, vecs[s], at, s) for s in ("train", "test"))
    return train, test, f"{task} {model} layer {at}"


# --------------------------------------------------------------------------- scikit-learn
EPOCHS = {"ftprobe": 0, "sklearn": 0}  # epochs run, summed over nets


def sk_train(X, y, classes, sizes, l2, seed, o: Options, val) -> tuple[Any, float, float, int]:
    """One MLPClassifier, epoch by epoch, early-stopped by ftprobe's rule on ``val``."""
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=sizes, alpha=l2, solver="adam", learning_rate_init=o.lr,
        batch_size=o.batch_size, random_state=seed, shuffle=True,
    )  # fmt: skip
    Xv, yv = val
    best: tuple[float, float] | None = None
    best_coefs, best_iter, stale = None, 0, 0
    top_acc, low_loss = -1.0, float("inf")
    for it in range(1, o.max_iter + 1):
        clf.partial_fit(X, y, classes=classes)
        EPOCHS["sklearn"] += 1
        proba = clf.predict_proba(Xv)
        acc = float(np.mean(clf.classes_[proba.argmax(1)] == yv))
        p = proba[np.arange(len(yv)), np.searchsorted(clf.classes_, yv)]
        loss = float(-np.mean(np.log(np.clip(p, 1e-12, None))))
        if best is None or acc > best[0] or (acc == best[0] and loss < best[1]):
            best, best_iter = (acc, loss), it
            best_coefs = copy.deepcopy((clf.coefs_, clf.intercepts_))
        if acc > top_acc or loss < low_loss * (1 - 1e-3):
            stale = 0
        else:
            stale += 1
            if stale >= o.patience:
                break
        top_acc, low_loss = max(top_acc, acc), min(low_loss, loss)
    clf.coefs_, clf.intercepts_ = best_coefs
    return clf, best[0], best[1], best_iter


def sk_protocol(train: ProbeData, test: ProbeData, o: Options, seed: int) -> dict[str, Any]:
    """ftprobe's grid search + retraining protocol with scikit-learn's MLPClassifier."""
    X, y = np.asarray(train.X, np.float32), np.asarray(train.y)
    fit_idx, val_idx = validation_split(y, o.val_fraction, seed)
    classes = np.unique(y)
    val = (X[val_idx], y[val_idx])
    Xf, yf = X[fit_idx], y[fit_idx]
    sub = stratified_sample(yf, o.grid_max_train, seed)
    warnings.filterwarnings("ignore", module="sklearn")
    import sklearn.neural_network  # noqa: F401  (imported before the clock starts)

    t0, c0 = time.perf_counter(), time.process_time()
    grid = []
    for sizes in o.sizes:
        for l2 in o.l2:
            grid.append((sizes, l2, *sk_train(Xf[sub], yf[sub], classes, sizes, l2, seed, o, val)))
    best = min(range(len(grid)), key=lambda i: (-grid[i][3], grid[i][4], i))
    sizes, l2 = grid[best][:2]
    reuse = np.array_equal(sub, np.arange(len(fit_idx)))
    models = [grid[best][2]] if reuse else []
    for s in range(seed + len(models), seed + o.seeds):
        models.append(sk_train(Xf, yf, classes, sizes, l2, s, o, val)[0])
    fit_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    accs = [float(np.mean(m.predict(np.asarray(test.X, np.float32)) == test.y)) for m in models]
    return {
        "fit_s": fit_s,
        "cpu_s": cpu_s,
        "accuracy": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs)),
        "config": f"{hidden_name(sizes)} l2={l2:g}",
        "val_accuracy": grid[best][3],
    }


def gemm_gflops(m: int = 256, k: int = 384, n: int = 256, reps: int = 200) -> float:
    """Speed of one float32 matrix product of the first layer's shape (the ceiling per FLOP)."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * m * k * n * reps / (time.perf_counter() - t0) / 1e9


def count_ftprobe_epochs() -> None:
    """Count the epochs ftprobe's batched training runs (nets still training, per iteration)."""
    from ftprobe.plugins.probes import mlp

    train_many = mlp.train_many

    def counted(*args: Any, on_iter: Any = None, **kwargs: Any) -> Any:
        def hook(it: int, nets: int, acc: float | None) -> None:
            EPOCHS["ftprobe"] += nets
            if on_iter is not None:
                on_iter(it, nets, acc)

        return train_many(*args, on_iter=hook, **kwargs)

    mlp.train_many = counted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=Path, help="directory written by ftprobe encode --out")
    ap.add_argument("--task", default="ss-role")
    ap.add_argument("--model", default="minilm-l3")
    ap.add_argument("--layer", type=int, help="default: the last")
    ap.add_argument("--synthetic", action="store_true", help="synthetic data even if real is set")
    ap.add_argument("--n", type=int, default=3000, help="synthetic training points")
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--labels", type=int, default=40)
    ap.add_argument("--probe", choices=["classifier", "linear"], default="classifier")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-sklearn", action="store_true", help="time ftprobe only")
    ap.add_argument(
        "--profile", action="store_true", help="also print where ftprobe's fit spends its time"
    )
    ap.add_argument("-o", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    torch.set_num_threads(1)
    options = {"threads": 1, **dict(pair.split("=", 1) for pair in args.o)}
    if args.vectors:
        train, test, source = from_dir(args.vectors, args.layer)
    elif (
        not args.synthetic
        and os.environ.get("FTPROBE_DATA_DIR")
        and os.environ.get("FTPROBE_MODELS_DIR")
    ):
        train, test, source = from_api(args.task, args.model, args.layer)
    else:
        train = synthetic(args.n, args.d, args.labels, 1)
        test = synthetic(max(500, args.n // 10), args.d, args.labels, 2)
        source = f"synthetic n={args.n} d={args.d} labels={args.labels}"
    make = make_classifier if args.probe == "classifier" else make_linear
    probe = make(**options)
    o = probe.options
    print(f"data: {source}: train {train.X.shape}, test {len(test.y)}, {len(train.labels)} labels")
    print(
        f"protocol: {len(o.sizes)} sizes x {len(o.l2)} l2, max_iter={o.max_iter}, "
        f"seeds={o.seeds}, batch={o.batch_size}, patience={o.patience}; 1 thread "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} cpus, load "
        f"{os.getloadavg()[0]:.2f})"
    )
    count_ftprobe_epochs()
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.autograd.profiler.profile(enabled=args.profile) as prof:
        probe.fit(train, seed=args.seed)
    ft, fc = time.perf_counter() - t0, time.process_time() - c0
    m = probe.evaluate(test).metrics
    print(
        f"ftprobe: fit_s={ft:.1f} cpu_s={fc:.1f} "
        f"accuracy={m['accuracy']:.4f}±{m['accuracy_std']:.4f} "
        f"config={m['config']['hidden']} l2={m['config']['l2']:g} "
        f"val={m['config']['val_accuracy']:.4f} iterations={m['iterations']} "
        f"net_epochs={EPOCHS['ftprobe']} ({1000 * fc / max(1, EPOCHS['ftprobe']):.1f} cpu ms each)"
    )
    if args.profile:
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
        print(f"one (256, 384) @ (384, 256) product here: {gemm_gflops():.0f} GFLOPS")
    if args.no_sklearn:
        return
    sk = sk_protocol(train, test, o, args.seed)
    st, sc = sk["fit_s"], sk["cpu_s"]
    print(
        f"sklearn: fit_s={st:.1f} cpu_s={sc:.1f} "
        f"accuracy={sk['accuracy']:.4f}±{sk['accuracy_std']:.4f} "
        f"config={sk['config']} val={sk['val_accuracy']:.4f} "
        f"net_epochs={EPOCHS['sklearn']} ({1000 * sc / max(1, EPOCHS['sklearn']):.1f} cpu ms each)"
    )
    print(
        f"ratio sklearn/ftprobe: fit time {st / ft:.2f}x, cpu time {sc / fc:.2f}x "
        f"(load now {os.getloadavg()[0]:.2f})"
    )


if __name__ == "__main__":
    main()
