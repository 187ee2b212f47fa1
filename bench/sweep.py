"""Wall time of one small sweep run sequentially vs the ``local`` executor with 2 workers, and the
per-cell overhead of ``ray`` vs ``local``.

    python bench/sweep.py [--model minilm-l3] [--seeds 4] [--max-train 2000] [--sizes 64] [--no-ray]

The sweep is ss-role and ss-fxn × the classifier probe (one ``--sizes`` layer, one seed, one torch
thread per cell) × layers ``all`` × ``--seeds`` seeds. Vectors are encoded once before timing (a
warm-up sweep), so the timed sweeps are CPU-bound probe fits. Each timed sweep is a fresh
``ftprobe sweep run`` process (what a user runs: start-up, imports and task loading included).
The default encoder is a randomly initialised 2-layer BERT (hidden 128) saved to a temporary
folder; ``--model`` takes any encoder. The executor overhead is measured with a no-op job: the
time per job of ``map`` (pool start included).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ftprobe.pluginmanager import executors
from ftprobe.sweeps.runner import run_sweep
from ftprobe.sweeps.spec import parse_spec


def tiny_bert(folder: Path) -> str:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from ftprobe.settings import current

    models = current().models_dir
    if models is None:
        sys.exit("bench/sweep.py needs FTPROBE_MODELS_DIR (for MiniLM's tokenizer)")
    tok = AutoTokenizer.from_pretrained(str(models / "paraphrase-MiniLM-L3-v2"))
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,
    )
    BertModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def spec_doc(model: str, out: Path, seeds: int, max_train: int, sizes: str = "64") -> dict:
    return {
        "sweep": {"name": out.name, "out": str(out)},
        "axes": {
            "models": [model],
            "tasks": ["ss-role", "ss-fxn"],
            "layers": ["all"],
            "seeds": list(range(seeds)),
        },
        "probes": [
            {
                "name": "classifier",
                "options": {"sizes": sizes, "l2": "1e-4", "seeds": 1, "threads": 1},
            }
        ],
        "settings": {"max_train": max_train},
    }


def spec(model: str, out: Path, seeds: int, max_train: int):
    return parse_spec(spec_doc(model, out, seeds, max_train))


def toml(doc: dict) -> str:
    """The spec as TOML (flat tables of strings, numbers and lists: JSON values are TOML)."""
    lines = []
    for table, body in doc.items():
        entries = body if isinstance(body, list) else [body]
        for entry in entries:
            lines.append(f"[[{table}]]" if isinstance(body, list) else f"[{table}]")
            for key, value in entry.items():
                if isinstance(value, dict):
                    inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
                    lines.append(f"{key} = {{ {inner} }}")
                else:
                    lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def timed(doc: dict, folder: Path, executor: str, workers: int) -> float:
    """Wall time of ``ftprobe sweep run`` in a fresh process; every cell must be computed."""
    path = folder / f"{Path(doc['sweep']['out']).name}.toml"
    path.write_text(toml(doc))
    cmd = [sys.executable, "-m", "ftprobe.cli", "-q", "sweep", "run", str(path)]
    t0 = time.perf_counter()
    out = subprocess.run(
        [*cmd, "-e", executor, "-j", str(workers)], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - t0
    if out.returncode != 0 or " done " not in out.stdout or "skipped" in out.stdout:
        raise SystemExit(f"sweep failed: {out.stdout}{out.stderr}")
    return seconds


def noop(item: int) -> int:
    return item


def overhead(name: str, jobs: int) -> float:
    """Seconds per job that ``map`` adds around a no-op job (pool start included)."""
    pool = executors().get(name).factory(workers=2)
    t0 = time.perf_counter()
    assert pool.map(noop, list(range(jobs))) == list(range(jobs))
    return (time.perf_counter() - t0) / jobs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="encoder (default: a random 2-layer BERT)")
    ap.add_argument("--seeds", type=int, default=4, help="seeds per (task): cells = 2 x seeds")
    ap.add_argument("--max-train", type=int, default=2000)
    ap.add_argument("--sizes", default="64", help="the classifier's hidden layers (cell cost)")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("FTPROBE_QUIET", "1")
    with tempfile.TemporaryDirectory(prefix="ftprobe-bench-sweep-") as tmp:
        root = Path(tmp)
        model = args.model or tiny_bert(root / "tiny-bert")
        run_sweep(spec(model, root / "warm", 1, 10), executor="local", workers=1)  # encode once
        cells = 2 * args.seeds
        doc = lambda name: spec_doc(  # noqa: E731
            model, root / name, args.seeds, args.max_train, args.sizes
        )
        seq = timed(doc("seq"), root, "local", 1)
        par = timed(doc("par"), root, "local", 2)
        print(f"sweep of {cells} cells ({os.cpu_count()} cores):")
        print(f"  sequential          {seq:7.1f} s")
        print(f"  local, 2 workers    {par:7.1f} s   speed-up {seq / par:.2f}x")
        if not args.no_ray:
            ray_s = timed(doc("ray"), root, "ray", 2)
            per_cell = (ray_s - par) / cells
            print(f"  ray, 2 workers      {ray_s:7.1f} s   ({per_cell:+.2f} s/cell vs local)")
        jobs = 20
        print(f"executor overhead per no-op job ({jobs} jobs, pool start included):")
        print(f"  local, 2 workers    {overhead('local', jobs):7.3f} s")
        if not args.no_ray:
            print(f"  ray, 2 workers      {overhead('ray', jobs):7.3f} s")


if __name__ == "__main__":
    main()
