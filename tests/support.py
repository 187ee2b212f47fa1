"""Shared test data (not a test module): tiny real-data tasks, and an offline fixture set.

- ``TinyTasks`` registers ``tiny-<task>`` variants of real tasks: the examples of the first few
  sentences of each split (they need the corpora and ``minilm-l3``, ``MODEL``).
- ``build_tiny_bert`` saves a randomly initialised 2-layer BERT with a small vocabulary and its
  fast tokenizer to a folder, and ``OfflineTasks`` registers in-memory tasks over that
  vocabulary (``offline-pos``: word classes; ``offline-topic``: a sentence's topic), so the
  engine and the studies can be tested without ``../shared``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

from ftprobe import hookimpl
from ftprobe.api import Example, Split, TaskData, TaskSpec

MODEL = "minilm-l3"
TINY = {
    "pos": (40, 12),
    "dep": (25, 8),
    "trec": (96, 40),
    "trec-coarse": (96, 40),
    "ss-fxn": (60, 30),
}


def _first_sentences(split: Split, n: int) -> Split:
    seen: dict[tuple[str, ...], None] = {}
    keep = []
    for ex in split.examples:
        if ex.words not in seen:
            if len(seen) == n:
                break
            seen[ex.words] = None
        keep.append(ex)
    return replace(
        split, examples=keep, n_sentences=len(seen), rule=f"{split.rule}|first {n} sentences"
    )


def _load_tiny(base: str, sizes: tuple[int, int], source) -> TaskData:
    from ftprobe.pluginmanager import tasks

    data = tasks().get(base).load(source)
    splits = {
        "train": _first_sentences(data.splits["train"], sizes[0]),
        "test": _first_sentences(data.splits["test"], sizes[1]),
    }
    return TaskData(task=f"tiny-{base}", target=data.target, splits=splits)


class TinyTasks:
    TARGETS = {
        "pos": "word",
        "dep": "pair",
        "trec": "sentence",
        "trec-coarse": "sentence",
        "ss-fxn": "word",
    }

    @hookimpl
    def register_tasks(self, register):
        for base, sizes in TINY.items():
            register(
                TaskSpec(
                    name=f"tiny-{base}",
                    description=f"first sentences of {base}",
                    target=self.TARGETS[base],
                    load=partial(_load_tiny, base, sizes),
                    version="tiny-1",
                )
            )


FAST = {"epochs": 1, "batch_size": 16, "max_examples": 32, "device": "cpu"}

# ------------------------------------------------------------------ offline fixture set
WORD_CLASSES = {
    "DET": ("the", "a", "this", "every"),
    "ADJ": ("big", "small", "red", "quiet", "happy"),
    "NOUN": ("cat", "dog", "bird", "fish", "tree", "car"),
    "VERB": ("sees", "likes", "chases", "finds"),
}
TOPIC = {"cat": "animal", "dog": "animal", "bird": "animal", "fish": "animal"}
TOPIC.update({"tree": "thing", "car": "thing"})
SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def build_tiny_bert(folder: Path, seed: int = 0, words: Sequence[str] | None = None) -> Path:
    """A randomly initialised BertModel (2 layers, 32-d) and its fast WordPiece tokenizer over
    ``words`` (default: the fixture vocabulary), saved in Hugging Face format to ``folder``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    if words is None:
        words = [w for ws in WORD_CLASSES.values() for w in ws]
    (folder / "vocab.txt").write_text("\n".join([*SPECIAL, *words]) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(SPECIAL) + len(words),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _sentence(rng: random.Random) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A 'DET ADJ NOUN VERB DET NOUN' sentence and its word classes."""
    shape = ("DET", "ADJ", "NOUN", "VERB", "DET", "NOUN")
    return tuple(rng.choice(WORD_CLASSES[c]) for c in shape), shape


def _offline_split(name: str, n: int, seed: int, target: str) -> Split:
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        words, classes = _sentence(rng)
        sid = f"{name}-{i}"
        if target == "word":
            examples += [Example(words, (k,), c, sid) for k, c in enumerate(classes)]
        else:
            examples.append(Example(words, (), TOPIC[words[2]], sid))
    return Split(name, examples, n, rule=f"offline seed {seed}")


def _load_offline(target: str, source) -> TaskData:
    name = "offline-pos" if target == "word" else "offline-topic"
    splits = {
        "train": _offline_split("train", 40, 1, target),
        "test": _offline_split("test", 15, 2, target),
    }
    return TaskData(task=name, target=target, splits=splits)


class OfflineTasks:
    """In-memory tasks over the fixture vocabulary: no corpus needed."""

    @hookimpl
    def register_tasks(self, register):
        register(
            TaskSpec(
                "offline-pos",
                "word classes of generated sentences",
                "word",
                partial(_load_offline, "word"),
                version="offline-1",
            )
        )
        register(
            TaskSpec(
                "offline-topic",
                "topic of generated sentences",
                "sentence",
                partial(_load_offline, "sentence"),
                version="offline-1",
            )
        )


def build_tiny_bert_with_tokenizer(folder: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    """A randomly initialised BertModel (2 layers, 32-d) with the tokenizer of
    ``tokenizer_dir`` (e.g. MiniLM's, for real-corpus tasks), saved to ``folder``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
