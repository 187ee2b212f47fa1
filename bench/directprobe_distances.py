"""DirectProbe analysis-phase benchmark (prints figures; not a test).

Fits DirectProbe once on a task's train vectors (last layer) and pickles the fitted probe and the
test data (``--state``, reused by later runs), then times only what follows the clustering: the
exact cluster-pair hull distances, the nearest-hull predictions of the test points and the
within-cluster statistics, and writes the probe's text files to ``--out`` (to ``diff -r`` against
another version's). On a shared machine compare the CPU seconds (BLAS on one thread:
OPENBLAS_NUM_THREADS=1).

    FTPROBE_DATA_DIR=... FTPROBE_MODELS_DIR=... python bench/directprobe_distances.py \
        [--task trec] [--model minilm-l3] [--state /tmp/dp_trec.pkl] [--out DIR] [--profile]
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path


def fitted(task: str, model: str, state: Path):
    """(probe, test data): loaded from ``state`` when it exists, else fitted and saved there."""
    if state.exists():
        with state.open("rb") as f:
            return pickle.load(f)
    from ftprobe.engine.extract import vectors
    from ftprobe.engine.loading import load_encoder, load_task
    from ftprobe.engine.probing import probe_data
    from ftprobe.plugins.probes.directprobe import DirectProbe

    spec, data = load_task(task)
    enc = load_encoder(model)
    train = probe_data(data, vectors(spec, data, "train", enc), enc.num_layers, "train")
    test = probe_data(data, vectors(spec, data, "test", enc), enc.num_layers, "test")
    probe = DirectProbe()
    t = time.perf_counter()
    probe.fit(train)
    print(f"fit: {time.perf_counter() - t:.2f} s, {probe.clusters_.n_clusters} clusters")
    with state.open("wb") as f:
        pickle.dump((probe, test), f)
    return probe, test


def parts(probe, test) -> None:
    """Time the three parts of the analysis phase one by one."""
    import numpy as np

    from ftprobe.plugins.probes.directprobe import report

    X, members = probe.X64_, probe.members_
    clabels = probe.clusters_.cluster_labels
    clock = [time.perf_counter(), time.process_time()]

    def lap() -> str:
        now = [time.perf_counter(), time.process_time()]
        out = f"{now[0] - clock[0]:8.2f} s wall, {now[1] - clock[1]:8.2f} s CPU"
        clock[:] = now
        return out

    pairs = report.cluster_distances(X, members, clabels, probe.all_pairs_limit)
    print(f"cluster distances: {lap()} ({len(pairs)} pairs)")
    report.nearest_hulls(X, members, np.asarray(test.X), probe.top_k)
    print(f"predictions      : {lap()}")
    report.inside_stats(X, members, clabels, len(probe.train_.labels))
    print(f"inside stats     : {lap()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="trec")
    ap.add_argument("--model", default="minilm-l3")
    ap.add_argument("--state", type=Path, default=None, help="pickle of the fitted probe")
    ap.add_argument("--out", type=Path, default=None, help="write the probe's text files here")
    ap.add_argument("--profile", action="store_true", help="cProfile the whole analysis phase")
    ap.add_argument("--parts", action="store_true", help="also time each part on its own")
    args = ap.parse_args()
    state = args.state or Path(f"/tmp/directprobe_{args.task}_{args.model}.pkl")
    probe, test = fitted(args.task, args.model, state)
    print(
        f"{args.task} / {args.model}: {len(probe.X64_)} train points, "
        f"{len(probe.members_)} clusters, {len(test.y)} test points"
    )
    if args.parts:
        parts(probe, test)
    t, cpu = time.perf_counter(), time.process_time()
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        result = prof.runcall(probe.evaluate, test)
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    else:
        result = probe.evaluate(test)
    print(
        f"whole analysis (evaluate): {time.perf_counter() - t:8.2f} s wall, "
        f"{time.process_time() - cpu:8.2f} s CPU (this process)"
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in result.files.items():
            (args.out / name).write_text(text)
        print(f"files: {args.out}")


if __name__ == "__main__":
    main()
