"""``compare`` and the checkpoint dynamics on real data (minilm-l3, tiny tasks, small probes)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from support import FAST, MODEL

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLF = {"sizes": "32x32", "l2": "1e-4", "seeds": 1, "max_iter": 30}
# fewer training points than dimensions (384): every labelling is linearly separable, so
# every similarity must come out as a number
MAX_TRAIN, MAX_TEST = 120, 40
DP = {"top_k": 1}


def test_compare_produces_every_field(tiny_tasks, tmp_path):
    from ftprobe.report.plots import plot_compare
    from ftprobe.studies.compare import CSV_COLUMNS, CompareConfig, compare

    cfg = CompareConfig(
        task="tiny-pos",
        model=MODEL,
        finetuned_on="tiny-pos",
        layers="2,3",
        probe_options={"classifier": CLF, "directprobe": DP},
        finetune_options=FAST,
        max_train=MAX_TRAIN,
        max_test=MAX_TEST,
        out=tmp_path / "cmp",
    )
    rec = compare(cfg)
    plot_compare(rec, tmp_path / "cmp" / "compare.png")  # the report layer draws the plot
    assert rec["probes"] == {"accuracy": "classifier", "geometry": "directprobe"}
    assert [r["layer"] for r in rec["layers"]] == [2, 3]
    labels = rec["task"]["labels"]
    for row in rec["layers"]:
        assert row["n_train"] == MAX_TRAIN and row["n_test"] <= MAX_TEST
        for side in ("before", "after"):
            assert 0.0 <= row["accuracy"][side] <= 1.0
            geo = row["geometry"][side]
            assert geo["separable"] is True and geo["clusters"] == geo["train_labels"]
            assert 0.0 <= geo["accuracy"] <= 1.0
        assert row["accuracy"]["change"] == pytest.approx(
            row["accuracy"]["after"] - row["accuracy"]["before"]
        )
        md = row["min_distance"]
        assert md["n_compared"] > 0 and set(md["per_label"]) <= set(labels)
        assert md["increased"] + md["decreased"] + md["unchanged"] == md["n_compared"]
        assert md["mean_change"] == pytest.approx(
            np.mean([d["change"] for d in md["per_label"].values()])
        )
        for r in (row["before_after_similarity"], *row["train_test_similarity"].values()):
            assert r is not None and -1.0 <= r <= 1.0
        assert row["why_missing"] == {}
        n_pairs = len(labels) * (len(labels) - 1) // 2
        assert all(len(v) == n_pairs for v in row["pair_distances"].values())
    # the last layer moved more than the embedding-side layer: fine-tuning changed it
    assert rec["encoders"]["before"]["fingerprint"] != rec["encoders"]["after"]["fingerprint"]

    out = tmp_path / "cmp"
    assert json.loads((out / "compare.json").read_text())["layers"][0]["layer"] == 2
    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert list(rows[0]) == [name for name, _ in CSV_COLUMNS] and len(rows) == 2
    assert all(rows[1][name] != "" for name, _ in CSV_COLUMNS)
    per_label = list(csv.DictReader((out / "min_distance.csv").open()))
    assert len(per_label) == sum(r["min_distance"]["n_compared"] for r in rec["layers"])
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_command_with_checkpoints_and_plot(tiny_tasks, tmp_path):
    from click.testing import CliRunner

    from ftprobe.cli import cli

    out = tmp_path / "dyn"
    args = [
        "compare",
        "--task",
        "tiny-trec-coarse",
        "--model",
        MODEL,
        "--finetuned-on",
        "tiny-trec-coarse",
        "--layers",
        "3",
        "--epochs",
        "1",
        "--ft-batch-size",
        "16",
        "--max-train-examples",
        "32",
        "--save-every",
        "1",
        "--checkpoints",
        "--max-train",
        str(MAX_TRAIN),
        "--max-test",
        str(MAX_TEST),
        "--out",
        str(out),
    ]
    for key, value in CLF.items():
        args += ["-o", f"classifier.{key}={value}"]
    args += ["-o", "directprobe.top_k=1"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    dyn = json.loads((out / "dynamics.json").read_text())
    assert [s["step"] for s in dyn["steps"]] == [0, 1, 2] and dyn["layers_probed"] == [3]
    first = dyn["steps"][0]["layers"]["3"]
    assert first["similarity_to_original"] == pytest.approx(1.0)
    last = dyn["steps"][-1]["layers"]["3"]
    assert last["similarity_to_original"] is not None and last["label_min_distance"]
    with np.load(out / "centroids.npz") as npz:
        assert set(npz.files) == {f"step{s}_layer{ly}" for s in (0, 1, 2) for ly in (3,)}
        assert npz["step2_layer3"].shape == (len(dyn["task"]["labels"]), 384)
    for name in ("compare.png", "min_distance.png", "similarity.png", "centroids.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    (out / "centroids.png").unlink()
    res = CliRunner().invoke(cli, ["plot", str(out), "--layers", "3", "--labels", "HUM,NUM"])
    assert res.exit_code == 0, res.output
    assert (out / "centroids.png").is_file()

    res = CliRunner().invoke(cli, [*args[:7], "--checkpoints"])
    assert res.exit_code == 2 and "--checkpoints needs --save-every" in res.output


@pytest.mark.slow
def test_paper_scale_compare_pos_all_layers(tmp_path):
    """The paper's setting on the full PUD POS task (3 epochs for time): fine-tuning on POS
    keeps or raises last-layer classifier accuracy and keeps the space linearly separable."""
    from ftprobe.studies.compare import CompareConfig, compare

    cfg = CompareConfig(
        task="pos",
        model=MODEL,
        finetuned_on="pos",
        layers="all",
        finetune_options={"epochs": 3, "device": "cpu"},
        out=tmp_path / "pos",
    )
    rec = compare(cfg)
    last = rec["layers"][-1]
    assert last["accuracy"]["after"] >= last["accuracy"]["before"] - 0.01
    assert last["geometry"]["after"]["separable"]
    assert len(rec["layers"]) == 4
