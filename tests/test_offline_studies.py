"""The engine and every study on the offline fixture set: a randomly initialised 2-layer BERT
and in-memory tasks (no corpus, no download). Answers that follow from the construction are
asserted exactly; the rest within the ranges the measures allow."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ftprobe.cli import cli

pytestmark = pytest.mark.usefixtures("one_torch_thread", "offline_tasks")

CLF = {"sizes": "16x16", "l2": "1e-4", "seeds": 1, "max_iter": 20}
FT = {"epochs": 1, "batch_size": 16, "device": "cpu", "seed": 0}


def test_encoding_gives_one_vector_per_example_and_layer(tiny_bert_dir):
    from ftprobe.engine.extract import split_vectors
    from ftprobe.engine.loading import load_encoder, load_task

    spec, data = load_task("offline-pos")
    enc = load_encoder(str(tiny_bert_dir))
    words = {w for ex in data.splits["train"].examples for w in ex.words}
    assert all(len(enc.tokenizer.tokenize(w)) == 1 for w in words)  # whole words, no [UNK]
    assert enc.tokenizer.unk_token_id not in enc.tokenizer(sorted(words))["input_ids"][0]
    vecs = split_vectors(spec, data, enc)
    assert vecs["train"].shape == (3, 40 * 6, 32) and vecs["test"].shape == (3, 15 * 6, 32)
    again = split_vectors(spec, data, enc)  # from the cache
    assert np.array_equal(vecs["train"], again["train"])
    # the same word in the same sentence position and context gets the same embedding row
    first = data.splits["train"].examples
    same = [i for i, ex in enumerate(first) if ex.words == first[0].words and ex.targets == (0,)]
    assert all(np.array_equal(vecs["train"][0, i], vecs["train"][0, 0]) for i in same)


def test_run_directprobe_on_every_layer(tiny_bert_dir, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(
        cli,
        [
            "run",
            "-t",
            "offline-pos",
            "-m",
            str(tiny_bert_dir),
            "--layers",
            "all",
            "--out",
            str(out),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    rec = json.loads((out / "result.json").read_text())
    assert sorted(rec["layers"]) == ["0", "1", "2"] and rec["probe"] == "directprobe"
    # layer 0 holds word embeddings (+ position): each word class is a set of word types
    for layer, metrics in rec["layers"].items():
        assert metrics["n_labels"] == 4 and metrics["n_clusters"] >= 4
        assert 0.0 <= metrics["accuracy"] <= 1.0
        assert (out / f"layer-{int(layer):02d}" / "clusters.txt").is_file()
    assert "clusters=" in res.output and "=-" not in res.output  # no empty details


def test_compare_after_finetuning_the_fixture_encoder(tiny_bert_dir, tmp_path):
    from ftprobe.studies.compare import CompareConfig, compare

    rec = compare(
        CompareConfig(
            task="offline-topic",
            model=str(tiny_bert_dir),
            finetuned_on="offline-topic",
            layers="all",
            probe_options={"classifier": CLF, "directprobe": {"top_k": 1}},
            finetune_options=FT,
            out=tmp_path / "cmp",
        )
    )
    assert rec["encoders"]["before"]["fingerprint"] != rec["encoders"]["after"]["fingerprint"]
    assert [r["layer"] for r in rec["layers"]] == [0, 1, 2]
    for row in rec["layers"]:
        assert row["n_train"] == 40 and row["n_test"] == 15
        for side in ("before", "after"):
            assert 0.0 <= row["accuracy"][side] <= 1.0
            assert row["geometry"][side]["labels"] == 2
    assert (tmp_path / "cmp" / "compare.csv").read_text().count("\n") == 4


def test_compare_with_controls_reports_selectivity(tiny_bert_dir, tmp_path):
    """--controls probes offline-pos:control@0 with both probes, before and after; with the
    same encoder on both sides the two sides agree exactly."""
    import pandas as pd

    import ftprobe

    out = tmp_path / "cmp"
    model = str(tiny_bert_dir)
    args = ["compare", "-t", "offline-pos", "-m", model, "--after", model, "--layers", "1,2"]
    args += ["--controls", "-o", "classifier.sizes=16", "-o", "classifier.seeds=1"]
    res = CliRunner().invoke(cli, [*args, "-o", "directprobe.top_k=1", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    rec = json.loads((out / "compare.json").read_text())
    assert rec["controls"]["task"] == "offline-pos:control@0"
    for task_row, row in zip(rec["layers"], rec["controls"]["layers"], strict=True):
        assert row["before"] == row["after"]  # the same encoder on both sides
        b = row["before"]
        assert 0.0 <= b["control_accuracy"] <= 1.0 and b["control_clusters"] >= 1
        assert b["selectivity"] == pytest.approx(
            task_row["accuracy"]["before"] - b["control_accuracy"]
        )
    table = pd.read_csv(out / "controls.csv")
    assert table["layer"].tolist() == [1, 2]
    assert table["selectivity_after"].tolist() == pytest.approx(
        [r["after"]["selectivity"] for r in rec["controls"]["layers"]], abs=1e-5
    )
    df = ftprobe.load_results(out)
    assert len(df[df.metric == "controls.before.selectivity"]) == 2
    assert "selectivity = task - control" in res.output


def test_similarity_of_an_encoder_with_itself_is_one(tiny_bert_dir, tmp_path):
    from ftprobe.studies.similarity import similarity

    rec = similarity(
        "offline-pos",
        str(tiny_bert_dir),
        against=str(tiny_bert_dir),
        measures=["cka", "rsa", "attn-js"],
        out=tmp_path / "sim",
    )
    for row in rec["layers"]:
        assert row["scores"]["cka"] == pytest.approx(1.0, abs=1e-6)
        assert row["scores"]["rsa"] == pytest.approx(1.0, abs=1e-6)
        if row["layer"] > 0:
            assert row["scores"]["attn-js"] == pytest.approx(0.0, abs=1e-9)


def test_matrix_of_the_fixture_encoder(tiny_bert_dir, tmp_path):
    from ftprobe.sweeps.matrix import MatrixConfig, run_matrix

    cfg = MatrixConfig(
        model=str(tiny_bert_dir),
        finetune_on=["offline-topic"],
        probe_on=["offline-pos", "offline-topic"],
        probe="classifier",
        probe_options=CLF,
        finetune_options=FT,
        out=tmp_path / "m",
    )
    rec = run_matrix(cfg)
    assert rec["complete"] and rec["rows"] == ["original", "ft-offline-topic"]
    assert all(0.0 <= v <= 1.0 for row in rec["values"] for v in row)
    assert run_matrix(cfg)["new_cells"] == 0
