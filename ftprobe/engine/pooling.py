"""From subwords to probing targets: word = mean of its subword vectors, pair = the two word
vectors concatenated (in target order), sentence = the first position ([CLS]).

Alignment uses the fast tokenizer's ``word_ids`` (``is_split_into_words=True``), never string
re-tokenisation. Sentences longer than the model's window are cut into overlapping windows;
each subword takes its vector from the window where it has the most context on both sides.
Everything here is differentiable and works with or without ``torch.inference_mode`` (fine-tuning
uses :func:`pooled_forward` too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ftprobe.api import Example, TargetKind
from ftprobe.errors import FtprobeError

if TYPE_CHECKING:  # pragma: no cover
    import torch

Words = tuple[str, ...]


@dataclass(frozen=True)
class Tokenized:
    """A sentence's subwords without special tokens; ``word_ids[j]`` = word of subword ``j``."""

    ids: np.ndarray  # int64 (n_subwords,)
    word_ids: np.ndarray  # int64 (n_subwords,), non-decreasing

    def __len__(self) -> int:
        return len(self.ids)

    def span(self, word: int) -> tuple[int, int]:
        """Subword range [start, end) of ``word``."""
        lo = int(np.searchsorted(self.word_ids, word, "left"))
        hi = int(np.searchsorted(self.word_ids, word, "right"))
        return lo, hi


def check_fast(tokenizer: Any, where: str = "") -> None:
    """Word alignment needs a fast (Rust ``tokenizers``) tokenizer."""
    if not getattr(tokenizer, "is_fast", False):
        raise FtprobeError(
            f"tokenizer {where or type(tokenizer).__name__} is not a fast tokenizer, so words "
            "cannot be aligned to subwords; save one with "
            "AutoTokenizer.from_pretrained(..., use_fast=True).save_pretrained(DIR) "
            "(it writes tokenizer.json)"
        )


def tokenize(tokenizer: Any, sentences: Sequence[Sequence[str]]) -> list[Tokenized]:
    """Tokenise word lists in one fast-tokenizer call. A word that yields no subword (an empty
    string, a zero-width space) is replaced by the unknown token so that every word has one."""
    check_fast(tokenizer)
    sents = [list(s) for s in sentences]
    if not sents:
        return []
    enc = tokenizer(sents, is_split_into_words=True, add_special_tokens=False)
    out: list[Tokenized] = []
    for i, words in enumerate(sents):
        ids, wids = enc["input_ids"][i], enc.word_ids(i)
        if len(set(wids)) < len(words):
            ids, wids = _with_unk(tokenizer, words, set(wids))
        out.append(Tokenized(np.asarray(ids, dtype=np.int64), np.asarray(wids, dtype=np.int64)))
    return out


def _with_unk(tokenizer: Any, words: list[str], present: set[int]) -> tuple[list[int], list[int]]:
    unk = tokenizer.unk_token
    if unk is None:
        raise FtprobeError(
            f"word {words[min(set(range(len(words))) - present)]!r} has no subword and the "
            "tokenizer has no unknown token; remove empty words from the data"
        )
    fixed = [w if j in present else unk for j, w in enumerate(words)]
    enc = tokenizer([fixed], is_split_into_words=True, add_special_tokens=False)
    return enc["input_ids"][0], enc.word_ids(0)


def special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after a sentence (e.g. [CLS] / [SEP])."""
    enc = tokenizer([["a"]], is_split_into_words=True, add_special_tokens=True)
    ids, wids = enc["input_ids"][0], enc.word_ids(0)
    first = wids.index(0)
    last = len(wids) - 1 - wids[::-1].index(0)
    return list(ids[:first]), list(ids[last + 1 :])


def model_max_length(model: Any, tokenizer: Any, requested: int | None = None) -> int:
    """Longest input the model takes: position embeddings, tokenizer limit, ``requested``."""
    limits = [int(getattr(model.config, "max_position_embeddings", 512))]
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:
        limits.append(tok_max)
    if requested is not None:
        limits.append(int(requested))
    return min(limits)


def windows(n: int, width: int) -> tuple[list[int], np.ndarray]:
    """Window starts covering ``n`` subwords with windows of ``width`` (stride width/2), and for
    each subword the window that gives it the most context on both sides."""
    if n <= width:
        return [0], np.zeros(n, dtype=np.int64)
    stride = max(1, width // 2)
    starts = list(range(0, n - width, stride)) + [n - width]
    s = np.asarray(starts)[:, None]
    j = np.arange(n)[None, :]
    inside = (j >= s) & (j < s + width)
    margin = np.where(inside, np.minimum(j - s, s + width - 1 - j), -1)
    return starts, margin.argmax(axis=0)


@dataclass
class Plan:
    """One batch: padded rows plus where each target's subwords sit in them."""

    input_ids: torch.Tensor  # (rows, T) int64
    attention_mask: torch.Tensor  # (rows, T) int64
    gather: torch.Tensor  # (n_sub,) flat row*T+pos of every subword to pool
    segment: torch.Tensor  # (n_sub,) slot each gathered subword belongs to
    counts: torch.Tensor  # (n_slots,) float32 subwords per slot
    example_slots: torch.Tensor  # (n_examples, k): k=1 (word/sentence) or 2 (pair)
    n_windowed: int = 0  # sentences longer than the model window (split into windows)


def _check_targets(ex: Example, kind: TargetKind, i: int) -> tuple[int, ...]:
    need = {"word": 1, "pair": 2, "sentence": 0}[kind]
    if kind == "sentence":
        return ()
    if len(ex.targets) != need:
        raise FtprobeError(
            f"example {i} ({ex.sentence_id or ' '.join(ex.words)[:40]!r}) has targets "
            f"{ex.targets} but a {kind} target needs {need} word index(es)"
        )
    for t in ex.targets:
        if not 0 <= t < len(ex.words):
            raise FtprobeError(
                f"example {i} ({ex.sentence_id or ' '.join(ex.words)[:40]!r}) targets word {t} "
                f"but the sentence has {len(ex.words)} words"
            )
    return ex.targets


def make_plan(
    tokenizer: Any,
    examples: Sequence[Example],
    kind: TargetKind,
    *,
    max_length: int,
    tokenized: dict[Words, Tokenized] | None = None,
) -> Plan:
    """Lay out the examples' sentences as model rows (each sentence once) and index the
    subwords of every target. ``tokenized`` may hold sentences tokenised beforehand."""
    import torch

    if kind not in ("word", "pair", "sentence"):
        raise FtprobeError(f"unknown target kind {kind!r}; use word, pair or sentence")
    tok = dict(tokenized or {})
    missing = list(dict.fromkeys(ex.words for ex in examples if ex.words not in tok))
    tok.update(zip(missing, tokenize(tokenizer, missing), strict=True))
    prefix, suffix = special_tokens(tokenizer)
    width = max_length - len(prefix) - len(suffix)
    if width < 2:
        raise FtprobeError(f"max length {max_length} leaves no room for words; use at least 8")

    rows: list[list[int]] = []
    first_row: dict[Words, int] = {}
    # subword j of sentence s sits at (row_of[s][j], pos_of[s][j])
    place: dict[Words, tuple[np.ndarray, np.ndarray]] = {}
    n_windowed = 0
    for words in dict.fromkeys(ex.words for ex in examples):
        t = tok[words]
        starts, owner = windows(len(t), width)
        n_windowed += len(starts) > 1
        first_row[words] = len(rows)
        for s in starts:
            rows.append(prefix + t.ids[s : s + width].tolist() + suffix)
        starts_arr = np.asarray(starts, dtype=np.int64)
        place[words] = (
            first_row[words] + owner,
            len(prefix) + np.arange(len(t)) - starts_arr[owner],
        )

    T = max(len(r) for r in rows)
    ids = np.full((len(rows), T), tokenizer.pad_token_id or 0, dtype=np.int64)
    mask = np.zeros((len(rows), T), dtype=np.int64)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = row
        mask[r, : len(row)] = 1

    slots: dict[tuple[Words, int], int] = {}
    gather: list[np.ndarray] = []
    segment: list[np.ndarray] = []
    counts: list[int] = []
    ex_slots: list[list[int]] = []
    for i, ex in enumerate(examples):
        wanted = _check_targets(ex, kind, i) or (-1,)  # -1: the sentence's first position
        row_slots = []
        for w in wanted:
            key = (ex.words, w)
            if key not in slots:
                slots[key] = len(slots)
                if w < 0:
                    flat = np.asarray([first_row[ex.words] * T])
                else:
                    lo, hi = tok[ex.words].span(w)
                    rws, pos = place[ex.words]
                    flat = rws[lo:hi] * T + pos[lo:hi]
                gather.append(flat)
                segment.append(np.full(len(flat), slots[key], dtype=np.int64))
                counts.append(len(flat))
            row_slots.append(slots[key])
        ex_slots.append(row_slots)

    k = 2 if kind == "pair" else 1
    return Plan(
        input_ids=torch.from_numpy(ids),
        attention_mask=torch.from_numpy(mask),
        gather=torch.from_numpy(np.concatenate(gather) if gather else np.zeros(0, np.int64)),
        segment=torch.from_numpy(np.concatenate(segment) if segment else np.zeros(0, np.int64)),
        counts=torch.tensor(counts, dtype=torch.float32),
        example_slots=torch.tensor(ex_slots, dtype=torch.int64).reshape(len(examples), k),
        n_windowed=n_windowed,
    )


def run_plan(model: Any, plan: Plan, *, device: Any = "cpu", all_layers: bool = False):
    """Forward the plan's rows; return ``(n_examples, dim)`` from the last layer, or
    ``(num_layers+1, n_examples, dim)`` with the embedding layer first when ``all_layers``."""
    out = model(
        input_ids=plan.input_ids.to(device),
        attention_mask=plan.attention_mask.to(device),
        output_hidden_states=all_layers,
        return_dict=True,
    )
    layers = out.hidden_states if all_layers else (out.last_hidden_state,)
    hidden = layers[0].shape[-1]
    gather = plan.gather.to(device)
    picked = [h.reshape(-1, hidden).index_select(0, gather) for h in layers]
    stacked = picked[0].unsqueeze(0) if len(picked) == 1 else _stack(picked)
    n_slots = len(plan.counts)
    sums = stacked.new_zeros((stacked.shape[0], n_slots, hidden))
    sums = sums.index_add(1, plan.segment.to(device), stacked)
    means = sums / plan.counts.to(device=device, dtype=stacked.dtype)[None, :, None]
    n_ex, k = plan.example_slots.shape
    vecs = means[:, plan.example_slots.reshape(-1).to(device)].reshape(
        stacked.shape[0], n_ex, k * hidden
    )
    return vecs if all_layers else vecs[0]


def _stack(tensors: list[Any]) -> Any:
    import torch

    return torch.stack(tensors, dim=0)


def pooled_forward(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    kind: TargetKind,
    *,
    device: Any = "cpu",
    all_layers: bool = False,
    max_length: int | None = None,
):
    """One forward pass over ``examples`` (each distinct sentence once); the pooled target
    vectors, ``(n_examples, dim)`` or ``(num_layers+1, n_examples, dim)`` when ``all_layers``.
    Keeps gradients when called outside inference mode; the model must already be on
    ``device``."""
    if not examples:
        raise FtprobeError("no examples to encode")
    plan = make_plan(
        tokenizer, examples, kind, max_length=model_max_length(model, tokenizer, max_length)
    )
    return run_plan(model, plan, device=device, all_layers=all_layers)
