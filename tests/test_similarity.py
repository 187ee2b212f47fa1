"""``ftprobe similarity`` on real data with minilm-l3: identical encoders, a fine-tuned one,
attention extraction, third-party measures and one-line errors."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from support import FAST, MODEL

from ftprobe import hookimpl, pluginmanager
from ftprobe.api import SimilaritySpec
from ftprobe.errors import FtprobeError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VECTOR = ["cka", "cka-debiased", "pwcca", "rsa", "svcca"]
# CCA on 384-d vectors needs more than 2 × 384 examples
N_EXAMPLES = 900
N_SENTENCES = 24


def _openblas_thread_setters() -> list[tuple[object, object, int]]:
    """(set, get, current) for every OpenBLAS loaded by numpy/scipy (Linux; else none)."""
    import ctypes

    import scipy.linalg  # noqa: F401  (loads scipy's own OpenBLAS)

    found = []
    try:
        paths = {ln.split()[-1] for ln in open("/proc/self/maps") if "openblas" in ln.lower()}
    except OSError:
        return found
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    found.append((put, get, get()))
                    break
            else:
                continue
            break
    return found


@pytest.fixture(autouse=True)
def one_blas_thread():
    """One OpenBLAS thread: on a shared 2-core machine two spinning BLAS threads make a
    900×384 SVD ~10x slower (measured 0.8 s vs 0.07 s)."""
    setters = _openblas_thread_setters()
    for put, _, _ in setters:
        put(1)
    yield
    for put, _, before in setters:
        put(before)


def _cli(args: list[str]):
    from ftprobe.cli import cli

    return CliRunner().invoke(cli, args)


@pytest.mark.corpus
def test_identical_encoders_give_one_and_zero_on_every_layer(tmp_path):
    out = tmp_path / "same"
    res = _cli(
        [
            "similarity",
            "--task",
            "pos",
            "--model",
            MODEL,
            "--against",
            MODEL,
            "--max-examples",
            str(N_EXAMPLES),
            "--max-sentences",
            str(N_SENTENCES),
            "--out",
            str(out),
        ]
    )
    assert res.exit_code == 0, res.output
    rec = json.loads((out / "similarity.json").read_text())
    assert [m["name"] for m in rec["measures"]] == [*VECTOR, "attn-js"]
    assert [r["layer"] for r in rec["layers"]] == [0, 1, 2, 3]
    assert rec["task"]["n_examples_used"] == N_EXAMPLES
    assert rec["task"]["n_sentences_used"] == N_SENTENCES
    for row in rec["layers"]:
        for name in VECTOR:
            assert row["scores"][name] == pytest.approx(1.0, abs=1e-6), (row["layer"], name)
        if row["layer"] == 0:
            assert (
                row["scores"]["attn-js"] is None and "no attention" in row["why_missing"]["attn-js"]
            )
        else:
            assert row["scores"]["attn-js"] == pytest.approx(0.0, abs=1e-9)
            assert row["per_head"]["attn-js"] == pytest.approx([0.0] * 12, abs=1e-9)
    table = list(csv.DictReader((out / "similarity.csv").open()))
    assert list(table[0]) == ["layer", *VECTOR, "attn-js"] and len(table) == 4
    assert table[0]["attn-js"] == "" and float(table[3]["cka"]) == pytest.approx(1.0)
    heads = list(csv.DictReader((out / "attn-js-heads.csv").open()))
    assert len(heads) == 3 * 12
    for name in [*VECTOR, "attn-js", "attn-js-heads"]:
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert "cka ↑" in res.output and "attn-js ↓" in res.output


def test_finetuned_encoder_is_less_similar_in_its_top_layer(tiny_tasks, tmp_path):
    from ftprobe.studies.similarity import similarity

    rec = similarity(
        "pos",
        MODEL,
        "tiny-pos",
        None,
        layers="0,3",
        max_examples=N_EXAMPLES,
        max_sentences=N_SENTENCES,
        finetune_options=FAST,
        out=tmp_path / "ft",
    )
    assert rec["encoders"]["a"]["fingerprint"] != rec["encoders"]["b"]["fingerprint"]
    emb, top = rec["layers"]
    assert emb["layer"] == 0 and top["layer"] == 3
    for name in VECTOR:
        assert top["scores"][name] < 1.0 - 1e-4, name
        assert 0.0 < top["scores"][name]
        # fine-tuning moves the top layer more than the embeddings
        assert emb["scores"][name] > top["scores"][name], name
    js = top["scores"]["attn-js"]
    assert 0.0 < js <= math.log(2)
    heads = top["per_head"]["attn-js"]
    assert len(heads) == 12 and np.mean(heads) == pytest.approx(js)
    assert top["why_missing"] == {}


@pytest.mark.corpus
def test_attention_maps_exclude_padding():
    """A sentence's maps are the same alone and batched with a much longer sentence, and
    every query row is a distribution over the sentence's own tokens."""
    from ftprobe.engine.loading import load_encoder
    from ftprobe.studies.similarity import attentions

    enc = load_encoder(MODEL)
    implementation = enc.model.config._attn_implementation
    short = ("The", "cat", "sat", ".")
    long = tuple("a much longer sentence forces padding on the short one in this batch".split())
    alone = attentions(enc, [short], batch_size=4)
    batched = attentions(enc, [long, short], batch_size=4)
    assert len(alone) == enc.num_layers
    for layer in range(enc.num_layers):
        a, b = alone[layer][0], batched[layer][1]
        assert a.shape == (12, 6, 6)  # [CLS] + 4 words + [SEP]
        np.testing.assert_allclose(a, b, atol=1e-5)
        np.testing.assert_allclose(a.sum(axis=-1), 1.0, atol=1e-5)
        assert batched[layer][0].shape[1] > a.shape[1]
    # the shared encoder is back on its original attention implementation
    assert enc.model.config._attn_implementation == implementation


class MeanCosine:
    """A third-party measure: the mean cosine of paired rows."""

    @hookimpl
    def register_measures(self, register):
        def compute(a, b):
            num = (a * b).sum(axis=1)
            return float(np.mean(num / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))

        register(SimilaritySpec(name="mean-cos", description="mean paired cosine", compute=compute))


def test_third_party_measure_runs_and_missing_values_are_explained(tiny_tasks, tmp_path):
    from ftprobe.pluginmanager import invalidate
    from ftprobe.studies.similarity import similarity

    pluginmanager.register(MeanCosine(), name="mean-cos-plugin")
    invalidate()
    try:
        rec = similarity(
            "tiny-pos",
            MODEL,
            against=MODEL,
            measures=["mean-cos", "svcca"],
            layers="last",
            out=tmp_path / "third",
        )
    finally:
        pluginmanager.unregister("mean-cos-plugin")
        invalidate()
    (row,) = rec["layers"]
    assert row["scores"]["mean-cos"] == pytest.approx(1.0, abs=1e-6)
    # tiny-pos/test has far fewer examples than CCA needs: missing with the reason
    assert row["scores"]["svcca"] is None and "too few for CCA" in row["why_missing"]["svcca"]
    assert [m["name"] for m in rec["measures"]] == ["mean-cos", "svcca"]


@pytest.mark.corpus
def test_bad_requests_are_one_line_errors(tmp_path):
    from ftprobe.studies.similarity import resolve_measures, similarity

    with pytest.raises(
        FtprobeError,
        match="unknown similarity measure 'nope'; known measures: "
        "cka, cka-debiased, pwcca, rsa, svcca, attn-js",
    ):
        resolve_measures(["nope"])
    with pytest.raises(FtprobeError, match="'directprobe' is a probe, not a similarity measure"):
        resolve_measures(["directprobe"])
    with pytest.raises(FtprobeError, match="exactly one of --finetuned-on"):
        similarity("pos", MODEL)
    with pytest.raises(FtprobeError, match="compare encoders with the same number of layers"):
        similarity("pos", MODEL, against="minilm-l6", measures=["cka"], out=tmp_path / "x")
    res = _cli(
        [
            "similarity",
            "--task",
            "pos",
            "--model",
            MODEL,
            "--against",
            MODEL,
            "--measure",
            "cka,classifier",
        ]
    )
    assert res.exit_code == 2 and "'classifier' is a probe" in res.output
    assert "Traceback" not in res.output
    res = _cli(["similarity", "--task", "pos", "--against", MODEL, "--epochs", "1"])
    assert res.exit_code == 2 and "need --finetuned-on" in res.output
    res = _cli(["run", "--task", "pos", "--model", MODEL, "--probe", "cka"])
    assert res.exit_code == 2 and "ftprobe similarity --measure cka" in res.output
