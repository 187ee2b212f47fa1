"""DirectProbe benchmark (prints figures; not a test).

(a) the reference algorithm done straightforwardly (heap of all pairs, merge to the end, search
    back, one LP per candidate pair after the sphere prefilter, no certificates) and (b) ftprobe's
    DirectProbe, in one process, on ss-role train vectors (minilm-l6, last layer).
Target: identical clusters, (b) >= 20x faster.  With --ewt: ftprobe alone on pos-ewt train
(minilm-l3, last layer); target < 30 minutes on 2 cores. --limit N times a seeded random subset of
N train points (how the time grows with the data). Prints a hash of the clusters (sha256 of the
cluster ids, int64) to compare versions.

    FTPROBE_DATA_DIR=... FTPROBE_MODELS_DIR=... python bench/directprobe.py [--ewt] [--no-ref]
        [--limit N]
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np


def train_vectors(task: str, model: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from ftprobe.engine.extract import vectors
    from ftprobe.engine.loading import load_encoder, load_task
    from ftprobe.engine.probing import probe_data

    spec, data = load_task(task)
    enc = load_encoder(model)
    vecs = vectors(spec, data, "train", enc)
    pd = probe_data(data, vecs, enc.num_layers, "train")
    return np.asarray(pd.X, dtype=np.float64), np.asarray(pd.y), pd.labels


def main() -> None:
    from ftprobe.plugins.probes.directprobe.clustering import directprobe_clusters
    from ftprobe.plugins.probes.directprobe.reference import reference_clusters

    ap = argparse.ArgumentParser()
    ap.add_argument("--ewt", action="store_true", help="time ftprobe alone on pos-ewt train")
    ap.add_argument("--no-ref", action="store_true", help="skip the reference implementation")
    ap.add_argument("--task", default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=None, help="a seeded random subset of N points")
    args = ap.parse_args()
    if args.limit is not None and args.limit < 1:
        ap.error(f"--limit must be a positive number of points, not {args.limit}")
    task = args.task or ("pos-ewt" if args.ewt else "ss-role")
    model = args.model or ("minilm-l3" if args.ewt else "minilm-l6")
    X, y, labels = train_vectors(task, model)
    if args.limit is not None and args.limit < len(X):
        keep = np.sort(np.random.default_rng(0).choice(len(X), args.limit, replace=False))
        X, y = X[keep], y[keep]
    print(
        f"{task} / {model} last layer: {len(X)} train points, d={X.shape[1]}, {len(labels)} labels"
    )

    # warm-up on a few points (imports, BLAS threads, the first HiGHS model): the first timed
    # call would otherwise pay for them
    directprobe_clusters(X[:300], y[:300], show_progress=False)
    t = time.perf_counter()
    fast = directprobe_clusters(X, y)
    tf = time.perf_counter() - t
    print(
        f"ftprobe  : {tf:9.2f} s  LP calls {fast.lp_calls:6d}  clusters {fast.n_clusters}  "
        f"merges {fast.merges}  rejected {fast.rejected}  avoided {fast.lp_avoided}  "
        f"separable label pairs {fast.separable_label_pairs}/{fast.label_pairs_checked}"
    )
    print(f"phases (s): {fast.phase_seconds}")
    print(f"LP engine: {fast.lp_engine}")
    print(
        f"gray-zone rule: smallest certified gap {fast.smallest_gap:.3e} (threshold "
        f"{fast.touch:.0e}, units of the run's scale), {fast.gray_zone} pairs in the gray zone"
    )
    digest = hashlib.sha256(np.ascontiguousarray(fast.assign, dtype=np.int64).tobytes())
    print(f"clusters hash: {digest.hexdigest()[:12]}")
    if args.ewt or args.no_ref:
        return
    t = time.perf_counter()
    ref = reference_clusters(X, y)
    tr = time.perf_counter() - t
    print(f"reference: {tr:9.2f} s  LP calls {ref.lp_calls:6d}  clusters {ref.n_clusters}")
    same = np.array_equal(fast.assign, ref.assign)
    print(f"identical clusters: {same}   speed-up: {tr / tf:.1f}x")


if __name__ == "__main__":
    main()
