"""Time the classifier probes on synthetic vectors of a chosen size; prints figures.

    python bench/bench_classifier.py                   # ss-role scale: 3k x 384, 40 labels
    python bench/bench_classifier.py --n 200000 --labels 17   # EWT POS scale
    python bench/bench_classifier.py --probe linear -o l2=1e-4

Data: Gaussian clusters (one per label, Zipf-like label frequencies) with noise, so accuracy
is neither trivial nor zero. Real-data timings: ``ftprobe run -t ss-role -m minilm-l3 -p
classifier`` prints ``seconds`` per layer in result.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ftprobe.api import ProbeData
from ftprobe.plugins.probes.classifier import make_classifier, make_linear


def synthetic(n: int, d: int, labels: int, seed: int) -> ProbeData:
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(1, labels + 1)
    y = rng.choice(labels, size=n, p=freq / freq.sum())
    centers = np.random.default_rng(0).normal(size=(labels, d)) * 0.15
    X = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    return ProbeData(X=X, y=y, labels=[f"l{i}" for i in range(labels)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="training points")
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--labels", type=int, default=40)
    ap.add_argument("--probe", choices=["classifier", "linear"], default="classifier")
    ap.add_argument("-o", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    options = dict(pair.split("=", 1) for pair in args.o)
    make = make_classifier if args.probe == "classifier" else make_linear
    train = synthetic(args.n, args.d, args.labels, 1)
    test = synthetic(max(500, args.n // 10), args.d, args.labels, 2)
    probe = make(**options)
    t0 = time.perf_counter()
    probe.fit(train)
    t1 = time.perf_counter()
    m = probe.evaluate(test).metrics
    t2 = time.perf_counter()
    print(f"probe={args.probe} n_train={args.n} d={args.d} labels={args.labels} options={options}")
    print(f"fit_s={t1 - t0:.1f} evaluate_s={t2 - t1:.2f}")
    print(
        f"accuracy={m['accuracy']:.4f}±{m['accuracy_std']:.4f} train={m['train_accuracy']:.4f} "
        f"majority={m['majority_baseline']:.4f} config={m['config']['hidden']} "
        f"l2={m['config']['l2']:g} iterations={m['iterations']}"
    )


if __name__ == "__main__":
    main()
