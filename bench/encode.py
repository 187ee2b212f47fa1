"""Extraction speed: ftprobe's batched extraction versus a naive per-sentence loop.

Both encode every word of the same STREUSLE sentences (word vector = mean of its subwords, all
layers) with the same encoder in one process. The naive loop runs one sentence at a time
(batch 1), keeps all hidden states and pools in Python. Prints words per second for both and
their ratio (target: >= 3x), plus the largest difference between the two results.

    .venv/bin/python bench/encode.py [--sentences 1000] [--model minilm-l6] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ftprobe.api import Example
from ftprobe.datafiles import DataSource
from ftprobe.engine.extract import ExtractStats, extract
from ftprobe.engine.loading import load_encoder

STREUSLE_TRAIN = "streusle/streusle.ud_train.conllulex"


def streusle_sentences(n: int) -> list[tuple[str, ...]]:
    """The first ``n`` sentences of STREUSLE train (word forms; no multiword ranges)."""
    path = DataSource().fetch(STREUSLE_TRAIN).path
    sents: list[tuple[str, ...]] = []
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if words:
                sents.append(tuple(words))
                words = []
                if len(sents) == n:
                    break
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if cols[0].isdigit():
            words.append(cols[1])
    if words and len(sents) < n:
        sents.append(tuple(words))
    return sents


def naive(encoder, sentences: list[tuple[str, ...]], device: str) -> np.ndarray:
    """Batch 1, all hidden states, Python-side pooling of each word."""
    model, tok = encoder.model.to(device), encoder.tokenizer
    out = []
    with torch.no_grad():
        for words in sentences:
            enc = tok([list(words)], is_split_into_words=True, return_tensors="pt").to(device)
            hs = model(**enc, output_hidden_states=True).hidden_states
            word_ids = enc.word_ids(0)
            for w in range(len(words)):
                pos = [i for i, x in enumerate(word_ids) if x == w]
                out.append(torch.stack([h[0, pos].mean(0) for h in hs]).cpu().numpy())
    return np.stack(out, axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    sentences = streusle_sentences(args.sentences)
    examples = [Example(s, (i,), "x") for s in sentences for i in range(len(s))]
    n_words = len(examples)
    encoder = load_encoder(args.model)
    extract(encoder, examples[:50], "word", device=args.device)  # warm-up both paths
    naive(encoder, sentences[:5], args.device)

    stats = ExtractStats()
    t0 = time.perf_counter()
    fast = extract(
        encoder, examples, "word", device=args.device, batch_size=args.batch_size, stats=stats
    )
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = naive(encoder, sentences, args.device)
    t_slow = time.perf_counter() - t0

    print(
        f"encoder {encoder.name}, {len(sentences)} STREUSLE sentences, {n_words} words, "
        f"{stats.subwords} subwords, device {args.device}, torch threads "
        f"{torch.get_num_threads()}"
    )
    print(
        f"ftprobe extract (batch {args.batch_size}): {n_words / t_fast:9.0f} words/s "
        f"({t_fast:.2f} s)"
    )
    print(f"naive loop (batch 1):        {n_words / t_slow:9.0f} words/s ({t_slow:.2f} s)")
    print(f"speed-up: {t_slow / t_fast:.2f}x (target >= 3x)")
    print(f"max |ftprobe - naive| over all layers: {np.abs(fast - slow).max():.2e}")


if __name__ == "__main__":
    main()
