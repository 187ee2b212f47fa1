"""Typed result records: each study's file is its record field for field, and a file that is
not one (another kind, a newer schema, a missing field, broken JSON) is a one-line error."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ftprobe.errors import FtprobeError
from ftprobe.records import (
    KINDS,
    CompareLayer,
    CompareRecord,
    RunRecord,
    SelectivityRecord,
    read_record,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread", "offline_tasks")

CLF = {"sizes": "16", "l2": "1e-4", "seeds": 1, "max_iter": 10}


def test_studies_write_files_that_read_back_as_their_records(tiny_bert_dir, tmp_path):
    from ftprobe.studies.compare import CompareConfig, compare
    from ftprobe.studies.run import RunConfig, run_with_controls

    model = str(tiny_bert_dir)
    cfg = RunConfig("offline-pos", model, "classifier", layers="1,2", probe_options=CLF)
    sel = run_with_controls(replace(cfg, out=tmp_path / "run"))
    cmp = compare(
        CompareConfig(
            task="offline-pos",
            model=model,
            after=model,
            layers="2",
            probe_options={"classifier": CLF},
            out=tmp_path / "cmp",
        )
    )
    for path, cls in [
        (tmp_path / "run" / "result.json", RunRecord),
        (tmp_path / "run" / "selectivity.json", SelectivityRecord),
        (tmp_path / "run-control" / "result.json", RunRecord),
        (tmp_path / "cmp" / "compare.json", CompareRecord),
    ]:
        rec = read_record(path)
        assert type(rec) is cls
        assert rec.to_json() == json.loads(path.read_text())  # the file is the record
    run = read_record(tmp_path / "run" / "result.json")
    assert run.complete and sorted(run.layers) == ["1", "2"] and run.probe == "classifier"
    assert [row["layer"] for row in sel["layers"]] == [1, 2]
    typed = read_record(tmp_path / "cmp" / "compare.json")
    assert isinstance(typed.layers[0], CompareLayer) and typed.layers[0].layer == 2
    assert typed.layers[0].accuracy["after"] == cmp["layers"][0]["accuracy"]["after"]


def test_files_that_are_not_records_are_one_line_errors(tmp_path):
    good = RunRecord(
        key="k",
        complete=True,
        ftprobe_version="0",
        created="",
        config={},
        seed=0,
        task={"name": "t"},
        encoder={},
        pooling="first",
        probe="p",
        probe_options_hash="h",
        layers={"0": {"main_metric": "accuracy", "accuracy": 0.5}},
        versions={},
        machine={},
        timings={},
    ).to_json()
    path = tmp_path / "result.json"
    cases = [
        ({**good, "schema_version": 99}, "schema version 99 is not one this ftprobe reads"),
        ({k: v for k, v in good.items() if k != "probe"}, "lacks 'probe'"),
        ({**good, "kind": "nonsense"}, "not an ftprobe result \\(kind 'nonsense'"),
    ]
    for doc, message in cases:
        path.write_text(json.dumps(doc))
        with pytest.raises(FtprobeError, match=message):
            read_record(path)
    path.write_text("{broken")
    with pytest.raises(FtprobeError, match="unreadable result file"):
        read_record(path)
    with pytest.raises(FtprobeError, match="holds a 'run' result, not 'compare'"):
        CompareRecord.from_json(good)
    path.write_text(json.dumps(good))
    assert read_record(path).layers["0"]["accuracy"] == 0.5
    assert set(KINDS) == {"run", "compare", "matrix", "dynamics", "similarity", "selectivity"}
