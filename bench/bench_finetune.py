"""Fine-tuning throughput: examples/s and seconds per step for one encoder and task.

    python bench/bench_finetune.py --model minilm-l3 --task pos --examples 256 --batch-size 32

Trains into a temporary cache (nothing is reused) and prints the figures."""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="minilm-l3")
    ap.add_argument("--task", default="pos")
    ap.add_argument("--examples", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    args = ap.parse_args()
    os.environ.setdefault("FTPROBE_QUIET", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from ftprobe import settings
    from ftprobe.engine.finetune import finetuned_checkpoint, read_meta

    with tempfile.TemporaryDirectory() as cache:
        settings.configure(cache_dir=cache)
        t0 = time.perf_counter()
        path = finetuned_checkpoint(
            args.model,
            args.task,
            epochs=1,
            batch_size=args.batch_size,
            max_examples=args.examples,
            device=args.device,
        )
        total = time.perf_counter() - t0
        meta = read_meta(path) or {}
    train_s = meta["seconds"]
    print(
        f"encoder {args.model}  task {args.task}  device {args.device}  "
        f"threads {torch.get_num_threads()}"
    )
    print(f"examples {meta['n_train']}  batch {args.batch_size}  steps {meta['steps']}")
    print(
        f"training {train_s:.2f} s  ({meta['n_train'] / train_s:.1f} examples/s, "
        f"{train_s / meta['steps']:.3f} s/step incl. save)  total with loading {total:.2f} s"
    )
    print(f"loss {meta['loss'][0]:.4f} -> {meta['loss'][-1]:.4f}")


if __name__ == "__main__":
    main()
