"""A reproducible window of DirectProbe's merge loop, replayed with each LP engine (prints
figures; not a test).

The window is the last ``--window`` merges of the clustering of a seeded ``--limit``-point
subset of pos-ewt train (minilm-l3, last layer; the subset is bench/directprobe.py's), or with
``--at N`` the ``--window`` merges after merge N (the snapshot: one dense-engine run stopped at
N; ``--limit 0`` takes every point, e.g. ``--limit 0 --at 195000 --window 1000 --engines
dense`` for the full run's tail, whose snapshot takes about 17 minutes and 1.8 GB). The
first call learns the run's number of merges (one full run) and pickles the merger just before
the window (a second run, stopped there) into ``--cache`` (default
``$FTPROBE_CACHE_DIR/bench`` or ``~/.cache/ftprobe/bench``); later calls load the snapshot.
The window is then run from the snapshot once per engine, in this process, in turn (kept LP
models start empty for each: the snapshot leaves them out), with BLAS on one thread and the
merger's LP worker threads as in a real run. Printed per engine: wall seconds, this process's
CPU seconds, the CPU seconds inside the hull-gap models (``lp_cpu``, summed over threads:
the comparable figure on a shared machine), pivots, fallbacks, and a hash of the window's
final clusters (they must agree).

    FTPROBE_DATA_DIR=... FTPROBE_MODELS_DIR=... python bench/directprobe_window.py \\
        --limit 15000 --window 2000 --engines highs,dense
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def subset(task: str, model: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    from directprobe import train_vectors  # bench/directprobe.py

    X, y, _ = train_vectors(task, model)
    if limit < len(X):
        keep = np.sort(np.random.default_rng(0).choice(len(X), limit, replace=False))
        X, y = X[keep], y[keep]
    return np.ascontiguousarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)


def new_merger(X: np.ndarray, y: np.ndarray, engine: str):
    """The merger of directprobe_clusters, nearest neighbours initialised (the same steps)."""
    from ftprobe.plugins.probes.directprobe.clustering import frozen_points
    from ftprobe.plugins.probes.directprobe.geometry import LPStats
    from ftprobe.plugins.probes.directprobe.labelpairs import label_conflicts
    from ftprobe.plugins.probes.directprobe.merger import Merger

    stats, avoided = LPStats(), Counter()
    labels = sorted(int(a) for a in np.unique(y))
    frozen = frozen_points(X, y)
    conflicts, dirs = label_conflicts(X, y, labels, frozen, stats, avoided, 1500, None, engine)
    graph: dict[int, list[int]] = {a: [] for a in labels}
    for a, b in sorted(conflicts):
        graph[a].append(b)
        graph[b].append(a)
    pts = np.flatnonzero(np.isin(y, [a for a in labels if graph[a]]))
    merger = Merger(X, y, pts, frozen, graph, dirs, stats, avoided, engine)
    merger.init_nn()
    return merger


def cluster_hash(merger) -> str:
    assign = np.full(len(merger.X), -1, dtype=np.int64)
    for s in np.flatnonzero(merger.active):
        assign[merger.members[s]] = merger.key[s]
    return hashlib.sha256(assign.tobytes()).hexdigest()[:12]


def snapshot(args) -> Path:
    home = Path(os.environ.get("FTPROBE_CACHE_DIR", Path.home() / ".cache" / "ftprobe"))
    cache = Path(args.cache) if args.cache else home / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    stem = f"window-{args.task}-{args.model}-{args.limit}-{args.window}"
    stem += "" if args.at is None else f"-at{args.at}"
    pkl, meta = cache / f"{stem}.pkl", cache / f"{stem}.json"
    if pkl.exists() and meta.exists():
        return pkl
    from threadpoolctl import threadpool_limits

    X, y = subset(args.task, args.model, args.limit or 10**9)
    if args.at is not None:  # a window from merge --at: one run, stopped there (dense engine)
        merger = new_merger(X, y, "dense")
        merger.stop_at = args.at
        merger.run()
        merger.stop_at = None
        pkl.write_bytes(pickle.dumps(merger, protocol=pickle.HIGHEST_PROTOCOL))
        meta.write_text(json.dumps({"merges": None, "start": args.at}))
        return pkl
    with threadpool_limits(limits=1, user_api="blas"):
        merger = new_merger(X, y, "highs")
        merger.run()
        total = merger.merges
        print(f"full run: {total} merges, clusters hash {cluster_hash(merger)}")
        merger = new_merger(X, y, "highs")
        merger.stop_at = max(0, total - args.window)
        merger.run()
    merger.stop_at = None
    pkl.write_bytes(pickle.dumps(merger, protocol=pickle.HIGHEST_PROTOCOL))
    meta.write_text(json.dumps({"merges": total, "start": total - args.window}))
    return pkl


def replay(pkl: Path, engine: str, window: int | None = None) -> dict:
    from ftprobe.plugins.probes.directprobe.geometry import LPStats

    merger = pickle.loads(pkl.read_bytes())
    merger.stats, merger.lp_engine = LPStats(), engine
    start = merger.merges
    merger.stop_at = None if window is None else start + window
    t, c = time.perf_counter(), time.process_time()
    merger.run()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    st = merger.stats
    return {
        "engine": engine, "merges": merger.merges - start, "rejected": merger.rejected,
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "lp_cpu_s": round(st.lp_cpu_s, 2),
        "cold_cpu_s": round(st.lp_cold_cpu_s, 2),
        "lp_wall_s": round(st.lp_run_s + st.lp_read_back_s + st.lp_basis_s, 2),
        "lp_calls": st.calls, "rounds": st.rounds, "pivots": st.engine_pivots,
        "fallbacks": st.engine_fallbacks, "hash": cluster_hash(merger),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="pos-ewt")
    ap.add_argument("--model", default="minilm-l3")
    ap.add_argument("--limit", type=int, default=15000, help="points (0: all)")
    ap.add_argument("--window", type=int, default=2000)
    ap.add_argument("--at", type=int, default=None, help="the window starts at this merge")
    ap.add_argument("--engines", default="highs,dense")
    ap.add_argument("--cache", default=None)
    args = ap.parse_args()
    pkl = snapshot(args)
    print(f"snapshot: {pkl}")
    # warm-up: numba compilation (cached on disk after the first time) and the first HiGHS
    from ftprobe.plugins.probes.directprobe.geometry import separate

    rng = np.random.default_rng(0)
    for engine in args.engines.split(","):
        separate(rng.normal(size=(200, 384)), rng.normal(size=(200, 384)) + 0.1, engine=engine)
    window = None if args.at is None else args.window
    rows = [replay(pkl, engine, window) for engine in args.engines.split(",")]
    for r in rows:
        print(json.dumps(r))
    if len(rows) > 1:
        base = rows[0]
        for r in rows[1:]:
            lp = base["lp_cpu_s"] / max(r["lp_cpu_s"], 1e-9)
            cpu = base["cpu_s"] / max(r["cpu_s"], 1e-9)
            print(
                f"{r['engine']} vs {base['engine']}: LP CPU {lp:.2f}x, process CPU {cpu:.2f}x, "
                f"same clusters: {r['hash'] == base['hash']}"
            )


if __name__ == "__main__":
    main()
