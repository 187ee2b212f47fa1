"""``--pooling`` (word/span/pair: mean|first|last subword; sentence: cls|mean), span and
sentence-pair targets checked against the model's own hidden states, and ``--after MODEL``:
a checkpoint folder written by ``ftprobe finetune`` or by ``save_pretrained`` gives the numbers
``--finetuned-on`` gives for the same weights; mismatched encoders are one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ftprobe.api import Example
from ftprobe.cli import cli
from ftprobe.engine.extract import cache_parts
from ftprobe.engine.loading import load_encoder, load_task
from ftprobe.engine.pooling import pooled_forward, resolve_pooling
from ftprobe.errors import FtprobeError

MODEL = "minilm-l3"
WORDS = ("Unbelievably", "tokenization", "works", "fine")


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    import torch

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def hidden(encoder, first, second=None):
    """Last-layer hidden states of one input as the tokenizer builds it, with word/seq ids."""
    import torch

    enc = encoder.tokenizer(
        list(first),
        list(second) if second else None,
        is_split_into_words=True,
        return_tensors="pt",
    )
    with torch.inference_mode():
        out = encoder.model(**enc, return_dict=True).last_hidden_state[0].numpy()
    return out, enc.word_ids(0), enc.sequence_ids(0)


def pooled(encoder, examples, kind, pooling):
    import torch

    with torch.inference_mode():
        return pooled_forward(
            encoder.model, encoder.tokenizer, examples, kind, pooling=pooling
        ).numpy()


@pytest.mark.corpus
def test_word_span_and_sentence_pooling_match_the_hidden_states():
    enc = load_encoder(MODEL)
    h, word_ids, seq = hidden(enc, WORDS)
    pos = {w: [j for j, x in enumerate(word_ids) if x == w] for w in range(len(WORDS))}
    assert len(pos[0]) > 1  # a word of several subwords: first, last and mean differ
    word = [Example(WORDS, (0,), "x")]
    for pooling, expect in (
        ("mean", h[pos[0]].mean(0)),
        ("first", h[pos[0][0]]),
        ("last", h[pos[0][-1]]),
    ):
        np.testing.assert_allclose(pooled(enc, word, "word", pooling)[0], expect, atol=2e-5)
    # a span is the mean of its words' vectors (each pooled as asked)
    span = [Example(WORDS, (0, 1), "x")]
    np.testing.assert_allclose(
        pooled(enc, span, "span", "mean")[0],
        (h[pos[0]].mean(0) + h[pos[1]].mean(0)) / 2,
        atol=2e-5,
    )
    np.testing.assert_allclose(
        pooled(enc, span, "span", "last")[0], (h[pos[0][-1]] + h[pos[1][-1]]) / 2, atol=2e-5
    )
    sentence = [Example(WORDS, (), "x")]
    np.testing.assert_allclose(pooled(enc, sentence, "sentence", None)[0], h[0], atol=2e-5)
    inner = [j for j, s in enumerate(seq) if s is not None]
    np.testing.assert_allclose(
        pooled(enc, sentence, "sentence", "mean")[0], h[inner].mean(0), atol=2e-5
    )


@pytest.mark.corpus
def test_sentence_pair_is_encoded_together():
    enc = load_encoder(MODEL)
    a, b = ("A", "man", "sleeps"), ("Someone", "rests")
    h, _, seq = hidden(enc, a, b)
    ex = [Example(a + b, (3,), "x")]
    np.testing.assert_allclose(pooled(enc, ex, "sentence-pair", "cls")[0], h[0], atol=2e-5)
    inner = [j for j, s in enumerate(seq) if s is not None]
    assert set(seq[j] for j in inner) == {0, 1}
    np.testing.assert_allclose(
        pooled(enc, ex, "sentence-pair", "mean")[0], h[inner].mean(0), atol=2e-5
    )
    alone = pooled(enc, [Example(a + b, (), "x")], "sentence", None)[0]
    assert np.abs(alone - h[0]).max() > 1e-3  # not the same as one text of five words


def test_pooling_choices_are_checked():
    assert resolve_pooling("word", None) == "mean" and resolve_pooling("sentence", None) == "cls"
    with pytest.raises(FtprobeError, match="does not apply to sentence targets; use cls or mean"):
        resolve_pooling("sentence", "first")
    with pytest.raises(FtprobeError, match="use mean or first or last"):
        resolve_pooling("span", "cls")


@pytest.mark.corpus
def test_built_in_cache_keys_leave_the_default_pooling_out():
    """The cache key of a built-in task has exactly the fields it had before pooling became a
    choice, so vectors cached earlier are reused; another pooling gets its own key."""
    spec, data = load_task("ss-role")
    enc = load_encoder(MODEL)
    parts = cache_parts(spec, data, "train", enc, 128)
    assert set(parts) == {
        "encoder",
        "task",
        "task_version",
        "split",
        "data",
        "examples",
        "kind",
        "max_length",
        "extraction",
    }
    assert cache_parts(spec, data, "train", enc, 128, "mean") == parts
    assert cache_parts(spec, data, "train", enc, 128, "first")["pooling"] == "first"


# ----------------------------------------------------------------------------- --after
def _tiny_task(folder: Path) -> str:
    rows = [
        ("the food was great", "pos"),
        ("we loved the music", "pos"),
        ("a warm and lovely place", "pos"),
        ("what a fine day", "pos"),
        ("the room was dirty", "neg"),
        ("we hated the noise", "neg"),
        ("a cold and sad place", "neg"),
        ("what an awful day", "neg"),
    ]
    for name, part in (("train", rows), ("test", rows[1::2])):
        (folder / f"{name}.tsv").write_text(
            "text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in part)
        )
    (folder / "mood.toml").write_text(
        '[source]\ntrain = "train.tsv"\ntest = "test.tsv"\n[text]\ntext = "text"\n'
        '[target]\nkind = "sentence"\n[label]\ncolumn = "label"\n'
    )
    return str(folder / "mood.toml")


def _invoke(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result.output


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


FT = ["--epochs", "2", "--ft-batch-size", "4", "--lr", "1e-3"]
CLF = {"sizes": "32x32", "l2": "1e-4", "seeds": 1, "max_iter": 30}
PROBES = [
    *(a for k, v in CLF.items() for a in ("-o", f"classifier.{k}={v}")),
    *("--layers", "1,3", "--device", "cpu"),
]


@pytest.mark.corpus
def test_after_a_checkpoint_gives_the_numbers_of_finetuned_on(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    task = _tiny_task(tmp_path)
    ckpt = _invoke(["-q", "finetune", "-t", task, "-m", MODEL, *FT, "--device", "cpu"])
    ckpt = ckpt.strip().splitlines()[-1]
    base = ["-q", "compare", "-t", task, "-m", MODEL, *PROBES]
    _invoke([*base, "--finetuned-on", task, *FT, "--out", str(tmp_path / "ft")])
    _invoke([*base, "--after", ckpt, "--out", str(tmp_path / "after")])
    plain = tmp_path / "plain"  # the same weights, saved by transformers alone
    AutoModel.from_pretrained(ckpt).save_pretrained(plain)
    AutoTokenizer.from_pretrained(ckpt).save_pretrained(plain)
    _invoke([*base, "--after", str(plain), "--out", str(tmp_path / "plain-out")])

    ft = _csv(tmp_path / "ft" / "compare.csv")
    assert [r["layer"] for r in ft] == ["1", "3"]
    assert _csv(tmp_path / "after" / "compare.csv") == ft
    assert _csv(tmp_path / "plain-out" / "compare.csv") == ft
    assert any(
        r["classifier_before"] != r["classifier_after"] or r["before_after_similarity"] != "1"
        for r in ft
    )  # fine-tuning changed something
    record = json.loads((tmp_path / "after" / "compare.json").read_text())
    before, after = record["encoders"]["before"], record["encoders"]["after"]
    from ftprobe.engine.provenance import portable_model

    assert before["name"] == MODEL and after["source"] == portable_model(ckpt)
    assert not Path(after["source"]).is_absolute()  # portable: no path of this machine
    assert before["fingerprint"] != after["fingerprint"]
    assert record["config"]["after"] == portable_model(ckpt)
    assert record["config"]["finetuned_on"] is None
    assert record["pooling"] == "cls"


@pytest.mark.corpus
def test_after_needs_the_same_tokenizer_and_layers(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    task = _tiny_task(tmp_path)
    enc = load_encoder(MODEL)
    other = tmp_path / "other-vocab"
    AutoModel.from_pretrained(enc.source).save_pretrained(other)
    tok = AutoTokenizer.from_pretrained(enc.source)
    tok.add_tokens(["zzqxword"])
    tok.save_pretrained(other)
    for after, message in (
        ("minilm-l6", "has 6 layers and minilm-l3 3"),
        (str(other), "does not share the tokenizer of minilm-l3"),
    ):
        result = CliRunner().invoke(
            cli, ["compare", "-t", task, "-m", MODEL, "--after", after, "--device", "cpu"]
        )
        assert result.exit_code == 2, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(
        cli, ["compare", "-t", task, "-m", MODEL, "--after", "x", "--finetuned-on", task]
    )
    assert result.exit_code == 2 and "exactly one of --finetuned-on" in result.output


@pytest.mark.corpus
def test_run_records_after_and_pooling(tmp_path):
    task = _tiny_task(tmp_path)
    out = tmp_path / "run"
    _invoke(
        [
            "-q",
            "run",
            "-t",
            task,
            "-m",
            MODEL,
            "--after",
            MODEL,
            "--probe",
            "classifier",
            "--pooling",
            "mean",
            "-o",
            "seeds=1",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    record = json.loads((out / "result.json").read_text())
    assert record["pooling"] == "mean" and record["config"]["after"] == MODEL
    assert record["base_encoder"]["fingerprint"] == record["encoder"]["fingerprint"]
