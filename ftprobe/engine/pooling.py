"""From subwords to probing targets: word = mean of its subword vectors, span = the mean of its
words' vectors, pair = the two word vectors concatenated (in target order), sentence = the first
position ([CLS]), sentence-pair = the first position of the two texts encoded together
(``[CLS] a [SEP] b [SEP]``, token types as the tokenizer gives them; a pair longer than the model
window is truncated, longest text first).

``pooling`` changes how: each word of a word, span or pair target is the ``mean`` (default),
``first`` or ``last`` of its subword vectors; a sentence (or sentence-pair) target is ``cls``
(default) or the ``mean`` of its subwords (special tokens left out).

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

from ftprobe.api import SENTENCE_POOLINGS, TARGET_KINDS, WORD_POOLINGS, Example, TargetKind
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


SENTENCE_KINDS = ("sentence", "sentence-pair")


def default_pooling(kind: str) -> str:
    """The pooling a target kind uses when none is chosen (today's vectors)."""
    return SENTENCE_POOLINGS[0] if kind in SENTENCE_KINDS else WORD_POOLINGS[0]


def resolve_pooling(kind: str, pooling: str | None) -> str:
    """``pooling``, or the kind's default when None; a one-line error when the kind does not
    take it."""
    if kind not in TARGET_KINDS:
        raise FtprobeError(f"unknown target kind {kind!r}; use {', '.join(TARGET_KINDS)}")
    if pooling is None:
        return default_pooling(kind)
    allowed = SENTENCE_POOLINGS if kind in SENTENCE_KINDS else WORD_POOLINGS
    if pooling not in allowed:
        raise FtprobeError(
            f"--pooling {pooling!r} does not apply to {kind} targets; use {' or '.join(allowed)}"
        )
    return pooling


def target_width(kind: str, hidden: int) -> int:
    """Width of one example's vector: two word vectors for a pair, else one."""
    return hidden * (2 if kind == "pair" else 1)


@dataclass
class Plan:
    """One batch: padded rows plus where each target's subwords sit in them."""

    input_ids: torch.Tensor  # (rows, T) int64
    attention_mask: torch.Tensor  # (rows, T) int64
    gather: torch.Tensor  # (n_sub,) flat row*T+pos of every subword to pool
    segment: torch.Tensor  # (n_sub,) slot each gathered subword belongs to
    counts: torch.Tensor  # (n_slots,) float32 subwords per slot
    example_slots: torch.Tensor  # (n_examples, k): k=1 (word/span/sentence) or 2 (pair)
    n_windowed: int = 0  # sentences longer than the model window (windows; pairs: truncated)
    weights: torch.Tensor | None = None  # (n_sub,) weight of each gathered subword; None = 1
    token_type_ids: torch.Tensor | None = None  # (rows, T) for sentence pairs


def _check_targets(ex: Example, kind: TargetKind, i: int) -> tuple[int, ...]:
    what = ex.sentence_id or " ".join(ex.words)[:40]
    if kind == "sentence":
        return ()
    if kind == "sentence-pair":
        if len(ex.targets) != 1 or not 0 < ex.targets[0] < len(ex.words):
            raise FtprobeError(
                f"example {i} ({what!r}) has targets {ex.targets} but a sentence-pair target "
                f"needs one index, where the second text starts (1 to {len(ex.words) - 1})"
            )
        return ex.targets
    need = {"word": 1, "pair": 2, "span": len(ex.targets) or 1}[kind]
    if len(ex.targets) != need:
        raise FtprobeError(
            f"example {i} ({what!r}) has targets "
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
    pooling: str | None = None,
) -> Plan:
    """Lay out the examples' sentences as model rows (each sentence once) and index the
    subwords of every target. ``tokenized`` may hold sentences tokenised beforehand."""
    import torch

    pooling = resolve_pooling(kind, pooling)
    if kind == "sentence-pair":
        return _pair_plan(tokenizer, examples, max_length=max_length, pooling=pooling)
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

    slots: dict[tuple[Words, Any], int] = {}
    gather: list[np.ndarray] = []
    segment: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    counts: list[float] = []
    ex_slots: list[list[int]] = []

    def subwords(words: Words, w: int) -> np.ndarray:
        lo, hi = tok[words].span(w)
        rws, pos = place[words]
        flat = rws[lo:hi] * T + pos[lo:hi]
        if pooling == "first":
            return flat[:1]
        if pooling == "last":
            return flat[-1:]
        return flat

    for i, ex in enumerate(examples):
        targets = _check_targets(ex, kind, i)
        # one slot per word (word, pair), per span, or per sentence (-1: its first position)
        wanted: list[Any] = [targets] if kind == "span" else list(targets) or [-1]
        row_slots = []
        for w in wanted:
            key = (ex.words, w)
            if key not in slots:
                slots[key] = len(slots)
                weight = None
                if isinstance(w, tuple):  # a span: the mean of its words' vectors
                    parts = [subwords(ex.words, j) for j in w]
                    flat = np.concatenate(parts)
                    weight = np.concatenate([np.full(len(p), 1.0 / len(p)) for p in parts])
                    count = float(len(parts))
                elif w >= 0:
                    flat = subwords(ex.words, w)
                    count = float(len(flat))
                elif pooling == "mean":  # the sentence's subwords, special tokens left out
                    rws, pos = place[ex.words]
                    flat = rws * T + pos
                    count = float(len(flat))
                else:
                    flat = np.asarray([first_row[ex.words] * T])
                    count = 1.0
                gather.append(flat)
                segment.append(np.full(len(flat), slots[key], dtype=np.int64))
                weights.append(np.ones(len(flat)) if weight is None else weight)
                counts.append(count)
            row_slots.append(slots[key])
        ex_slots.append(row_slots)

    k = 2 if kind == "pair" else 1
    uniform = all(bool((w == 1.0).all()) for w in weights)
    return Plan(
        input_ids=torch.from_numpy(ids),
        attention_mask=torch.from_numpy(mask),
        gather=torch.from_numpy(np.concatenate(gather) if gather else np.zeros(0, np.int64)),
        segment=torch.from_numpy(np.concatenate(segment) if segment else np.zeros(0, np.int64)),
        counts=torch.tensor(counts, dtype=torch.float32),
        example_slots=torch.tensor(ex_slots, dtype=torch.int64).reshape(len(examples), k),
        n_windowed=n_windowed,
        weights=None if uniform else torch.from_numpy(np.concatenate(weights).astype(np.float32)),
    )


def _pair_plan(
    tokenizer: Any, examples: Sequence[Example], *, max_length: int, pooling: str
) -> Plan:
    """Sentence pairs: each distinct pair one row, ``[CLS] a [SEP] b [SEP]`` as the tokenizer
    builds it (truncated longest text first), pooled at [CLS] or over both texts' subwords."""
    import torch

    check_fast(tokenizer)
    pairs: dict[tuple[Words, int], int] = {}
    for i, ex in enumerate(examples):
        cut = _check_targets(ex, "sentence-pair", i)[0]
        pairs.setdefault((ex.words, cut), len(pairs))
    firsts = [list(w[:cut]) for w, cut in pairs]
    seconds = [list(w[cut:]) for w, cut in pairs]
    full = tokenizer(firsts, seconds, is_split_into_words=True)
    enc = tokenizer(
        firsts, seconds, is_split_into_words=True, truncation="longest_first", max_length=max_length
    )
    rows = enc["input_ids"]
    n_truncated = sum(len(a) != len(b) for a, b in zip(full["input_ids"], rows, strict=True))
    T = max(len(r) for r in rows)
    ids = np.full((len(rows), T), tokenizer.pad_token_id or 0, dtype=np.int64)
    mask = np.zeros((len(rows), T), dtype=np.int64)
    types = np.zeros((len(rows), T), dtype=np.int64)
    has_types = "token_type_ids" in enc and "token_type_ids" in tokenizer.model_input_names
    gather, segment, counts = [], [], []
    for r, row in enumerate(rows):
        ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
        if has_types:
            types[r, : len(row)] = enc["token_type_ids"][r]
        if pooling == "mean":
            seq = enc.sequence_ids(r)
            pos = np.asarray([j for j, s in enumerate(seq) if s is not None], dtype=np.int64)
        else:
            pos = np.zeros(1, dtype=np.int64)
        gather.append(r * T + pos)
        segment.append(np.full(len(pos), r, dtype=np.int64))
        counts.append(float(len(pos)))
    ex_slots = [[pairs[ex.words, ex.targets[0]]] for ex in examples]
    return Plan(
        input_ids=torch.from_numpy(ids),
        attention_mask=torch.from_numpy(mask),
        gather=torch.from_numpy(np.concatenate(gather)),
        segment=torch.from_numpy(np.concatenate(segment)),
        counts=torch.tensor(counts, dtype=torch.float32),
        example_slots=torch.tensor(ex_slots, dtype=torch.int64).reshape(len(examples), 1),
        n_windowed=n_truncated,
        token_type_ids=torch.from_numpy(types) if has_types else None,
    )


def run_plan(model: Any, plan: Plan, *, device: Any = "cpu", all_layers: bool = False):
    """Forward the plan's rows; return ``(n_examples, dim)`` from the last layer, or
    ``(num_layers+1, n_examples, dim)`` with the embedding layer first when ``all_layers``."""
    extra = {}
    if plan.token_type_ids is not None:
        extra["token_type_ids"] = plan.token_type_ids.to(device)
    out = model(
        input_ids=plan.input_ids.to(device),
        attention_mask=plan.attention_mask.to(device),
        output_hidden_states=all_layers,
        return_dict=True,
        **extra,
    )
    layers = out.hidden_states if all_layers else (out.last_hidden_state,)
    hidden = layers[0].shape[-1]
    gather = plan.gather.to(device)
    picked = [h.reshape(-1, hidden).index_select(0, gather) for h in layers]
    stacked = picked[0].unsqueeze(0) if len(picked) == 1 else _stack(picked)
    n_slots = len(plan.counts)
    if plan.weights is not None:
        w = plan.weights.to(device=device, dtype=stacked.dtype)
        stacked = stacked * w[None, :, None]
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
    pooling: str | None = None,
):
    """One forward pass over ``examples`` (each distinct sentence once); the pooled target
    vectors, ``(n_examples, dim)`` or ``(num_layers+1, n_examples, dim)`` when ``all_layers``.
    Keeps gradients when called outside inference mode; the model must already be on
    ``device``."""
    if not examples:
        raise FtprobeError("no examples to encode")
    plan = make_plan(
        tokenizer,
        examples,
        kind,
        max_length=model_max_length(model, tokenizer, max_length),
        pooling=pooling,
    )
    return run_plan(model, plan, device=device, all_layers=all_layers)
