"""Extraction and pooling against transformers computed directly, on the real
paraphrase-MiniLM-L3-v2 weights (and a tiny random BERT for the gradient check)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ftprobe.api import Example, Split, TaskData, TaskSpec
from ftprobe.engine import extract, pooling
from ftprobe.errors import FtprobeError

SENTENCES = [
    ("The", "unbelievably", "photosynthetic", "cat", "sat", "."),
    ("Antidisestablishmentarianism", "is", "a", "word"),
    ("Hi", "!"),
    ("Unbeknownst", "to", "them", ",", "the", "hippopotamuses", "misbehaved", "repeatedly"),
]


@pytest.fixture(scope="module")
def l3(minilm_l3_dir: Path):
    from ftprobe.plugins.models.hf import load_directory

    return load_directory(minilm_l3_dir, "minilm-l3")


def direct_layers(encoder, ids: list[int]) -> torch.Tensor:
    """All hidden states of one unpadded row, computed with transformers alone:
    (layers+1, len(ids), hidden)."""
    with torch.no_grad():
        out = encoder.model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    return torch.stack(out.hidden_states)[:, 0]


def direct_word_vectors(encoder, words: tuple[str, ...]) -> dict[int, np.ndarray]:
    """Word index -> (layers+1, hidden) mean of its subwords, straight from transformers."""
    enc = encoder.tokenizer([list(words)], is_split_into_words=True)
    hs = direct_layers(encoder, enc["input_ids"][0])
    wids = enc.word_ids(0)
    return {
        w: hs[:, [i for i, x in enumerate(wids) if x == w]].mean(1).numpy()
        for w in range(len(words))
    }


def _task(examples: list[Example], kind: str) -> tuple[TaskSpec, TaskData]:
    spec = TaskSpec(name=f"inline-{kind}", description="test", target=kind, load=lambda s: None)
    split = Split("train", examples, len({ex.words for ex in examples}), rule=f"inline {kind}")
    return spec, TaskData(spec.name, kind, {"train": split})


def test_cached_word_vectors_equal_subword_means(l3, tmp_path, monkeypatch):
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(tmp_path))
    examples = [Example(s, (i,), "x") for s in SENTENCES for i in range(len(s))]
    spec, data = _task(examples, "word")
    got = extract.vectors(spec, data, "train", l3, batch_size=3)
    assert isinstance(got, np.memmap) and got.shape == (4, len(examples), 384)
    multi = 0
    for s in SENTENCES:
        ref = direct_word_vectors(l3, s)
        n_sub = [len(l3.tokenizer.tokenize(w)) for w in s]
        multi += sum(n > 1 for n in n_sub)
        for i in range(len(s)):
            row = examples.index(Example(s, (i,), "x"))
            np.testing.assert_allclose(got[:, row], ref[i], atol=1e-5, rtol=0)
    assert multi >= 5  # the check really covers multi-subword words


def test_pair_is_concatenation_and_sentence_is_cls(l3):
    s = SENTENCES[0]
    ref = direct_word_vectors(l3, s)
    pair = extract.extract(l3, [Example(s, (2, 0), "p"), Example(s, (1, 4), "p")], "pair")
    assert pair.shape == (4, 2, 768)
    np.testing.assert_allclose(pair[:, 0], np.concatenate([ref[2], ref[0]], -1), atol=1e-5)
    np.testing.assert_allclose(pair[:, 1], np.concatenate([ref[1], ref[4]], -1), atol=1e-5)

    sent = extract.extract(l3, [Example(s, (), "q") for s in SENTENCES], "sentence")
    for j, s in enumerate(SENTENCES):
        ids = l3.tokenizer([list(s)], is_split_into_words=True)["input_ids"][0]
        np.testing.assert_allclose(sent[:, j], direct_layers(l3, ids)[:, 0].numpy(), atol=1e-5)


def test_batching_and_order_do_not_change_vectors(l3):
    examples = [Example(s, (len(s) - 1,), "x") for s in SENTENCES * 2]
    one = extract.extract(l3, examples, "word", batch_size=1)
    many = extract.extract(l3, examples[::-1], "word", batch_size=64)[:, ::-1]
    np.testing.assert_allclose(one, many, atol=1e-5, rtol=0)


def test_each_sentence_is_encoded_once(l3):
    s = SENTENCES[0]
    examples = [Example(s, (i,), "x") for i in range(len(s))] + [Example(SENTENCES[2], (0,), "y")]
    maxlen = pooling.model_max_length(l3.model, l3.tokenizer)
    plan = pooling.make_plan(l3.tokenizer, examples, "word", max_length=maxlen)
    assert plan.input_ids.shape[0] == 2


def test_windows_choose_most_context():
    starts, owner = pooling.windows(30, 14)
    assert starts == [0, 7, 14, 16]
    assert owner[0] == 0 and owner[29] == 3
    # subword 10 sits 10 from window 0's start and 3 from its end, 3 and 10 in window 1
    margins = [min(10 - s, s + 13 - 10) if s <= 10 < s + 14 else -1 for s in starts]
    assert owner[10] == int(np.argmax(margins))
    assert pooling.windows(5, 14)[0] == [0]


def test_long_sentence_uses_windows_matching_direct_computation(l3):
    words = tuple(
        "the quick brown fox jumps over the unbelievably lazy dog again and again".split() * 3
    )
    maxlen = 16  # 14 subwords per window: several windows
    got = extract.extract(
        l3, [Example(words, (i,), "x") for i in range(len(words))], "word", max_length=maxlen
    )
    tok = pooling.tokenize(l3.tokenizer, [words])[0]
    starts, owner = pooling.windows(len(tok), maxlen - 2)
    assert len(starts) > 2
    cls, sep = l3.tokenizer.cls_token_id, l3.tokenizer.sep_token_id
    rows = [direct_layers(l3, [cls, *tok.ids[s : s + 14].tolist(), sep]) for s in starts]
    for w in range(len(words)):
        lo, hi = tok.span(w)
        vecs = [rows[owner[j]][:, 1 + j - starts[owner[j]]] for j in range(lo, hi)]
        np.testing.assert_allclose(got[:, w], torch.stack(vecs).mean(0).numpy(), atol=1e-5)


def test_sentence_beyond_model_limit_does_not_crash(l3):
    words = tuple(["word"] * 300 + ["unbelievably"] * 200)  # > 512 subwords
    stats = extract.ExtractStats()
    got = extract.extract(
        l3, [Example(words, (0,), "a"), Example(words, (499,), "b")], "word", stats=stats
    )
    assert stats.windowed == 1 and stats.subwords > 512
    assert np.isfinite(got).all() and got.shape == (4, 2, 384)


def test_word_without_subwords_gets_unknown_token(l3):
    words = ("a", "\u200b", "b")
    got = extract.extract(l3, [Example(words, (1,), "x")], "word")
    unk = l3.tokenizer.unk_token_id
    ids = [l3.tokenizer.cls_token_id, *l3.tokenizer.convert_tokens_to_ids(["a"]), unk]
    ids += [*l3.tokenizer.convert_tokens_to_ids(["b"]), l3.tokenizer.sep_token_id]
    np.testing.assert_allclose(got[:, 0], direct_layers(l3, ids)[:, 2].numpy(), atol=1e-5)


@pytest.mark.parametrize(
    "kind, targets, message",
    [("word", (7,), "has 2 words"), ("pair", (0,), "needs 2"), ("word", (), "needs 1")],
)
def test_bad_targets_are_named(l3, kind, targets, message):
    with pytest.raises(FtprobeError, match=message):
        extract.extract(l3, [Example(("a", "b"), targets, "x", "s1")], kind)


def test_bad_device_is_a_user_error(l3):
    with pytest.raises(FtprobeError, match="device"):
        extract.extract(l3, [Example(("a",), (0,), "x")], "word", device="tpu")


@pytest.fixture(scope="module")
def tiny_bert(minilm_l3_dir: Path):
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    )
    return BertModel(config, add_pooling_layer=False), AutoTokenizer.from_pretrained(minilm_l3_dir)


def test_pooled_forward_is_differentiable(tiny_bert):
    model, tok = tiny_bert
    model.train()
    examples = [Example(SENTENCES[0], (1, 2), "a"), Example(SENTENCES[1], (0, 3), "b")]
    out = pooling.pooled_forward(model, tok, examples, "pair")
    assert out.shape == (2, 64) and out.requires_grad
    out.sum().backward()
    grad = model.embeddings.word_embeddings.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    model.zero_grad()
    model.eval()
    with torch.no_grad():
        layers = pooling.pooled_forward(model, tok, examples, "pair", all_layers=True)
        last = pooling.pooled_forward(model, tok, examples, "pair")
    assert layers.shape == (3, 2, 64)
    torch.testing.assert_close(layers[-1], last)


def test_pooled_forward_respects_position_limit(tiny_bert):
    model, tok = tiny_bert
    words = tuple(["unbelievably"] * 40)  # 200 subwords, 64 positions
    with torch.no_grad():
        out = pooling.pooled_forward(model.eval(), tok, [Example(words, (39,), "a")], "word")
    assert out.shape == (1, 32) and torch.isfinite(out).all()
