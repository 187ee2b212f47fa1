"""Tasks declared in TOML spec files: every source format and target kind on small files written
here (the expected examples follow from the files), malformed specs and data, seeded ratio
splits, cache identity, hub-layout folders through datasets, and the CoNLL-U ``Number`` task on
UD English-EWT checked against an independent count with the ``conllu`` package."""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftprobe import hookimpl, pluginmanager
from ftprobe.api import Example, Split, TaskData, TaskSpec
from ftprobe.cli import cli
from ftprobe.engine.extract import cache_parts
from ftprobe.engine.loading import load_task
from ftprobe.errors import FtprobeError
from ftprobe.pluginmanager import tasks


@pytest.fixture(autouse=True)
def _offline_datasets(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def spec(folder: Path, body: str, name: str = "task.toml") -> str:
    return str(write(folder, name, body))


def jsonl(folder: Path, name: str, rows: list[dict]) -> None:
    write(folder, name, "".join(json.dumps(r) + "\n" for r in rows))


def info(path: str) -> dict:
    result = CliRunner().invoke(cli, ["tasks", "info", path, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def error_of(path: str) -> str:
    result = CliRunner().invoke(cli, ["tasks", "info", path])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


# ------------------------------------------------------------------ formats and kinds
SENTENCES = [
    ("the film was great", "pos"),
    ("I loved it", "pos"),
    ("a dull mess", "neg"),
    ("boring , slow and long", "neg"),
]


def test_jsonl_sentence_task_with_regex_splitter_and_label_map(tmp_path):
    rows = [{"text": t.replace(" ,", ","), "label": int(y == "pos")} for t, y in SENTENCES]
    jsonl(tmp_path, "train.jsonl", rows)
    jsonl(tmp_path, "test.jsonl", rows[:2])
    path = spec(
        tmp_path,
        """
name = "sentiment"
[source]
train = "train.jsonl"
test = "test.jsonl"
[text]
text = "text"
splitter = "regex"
pattern = '\\w+|[^\\w\\s]'
[target]
kind = "sentence"
[label]
column = "label"
map = { "0" = "neg", "1" = "pos" }
""",
    )
    spec_, data = load_task(path)
    assert spec_.name == "sentiment" and data.target == "sentence"
    train = data.splits["train"].examples
    assert [ex.words for ex in train] == [tuple(t.split()) for t, _ in SENTENCES]
    assert [ex.label for ex in train] == [y for _, y in SENTENCES]
    assert all(ex.targets == () for ex in train)
    assert data.splits["train"].files[0].path == (tmp_path / "train.jsonl").resolve()


def test_tsv_token_tagging_one_example_per_word(tmp_path):
    write(tmp_path, "train.tsv", 'tokens\ttags\nThe "cat" sat\tDET NOUN VERB\nNA runs\tNOUN VERB\n')
    write(tmp_path, "test.tsv", "tokens\ttags\nA dog\tDET NOUN\n")
    path = spec(
        tmp_path,
        """
[source]
train = "train.tsv"
test = "test.tsv"
[text]
words = "tokens"
[target]
kind = "word"
[label]
column = "tags"
""",
    )
    _, data = load_task(path)
    train = data.splits["train"].examples
    assert [(ex.words, ex.targets, ex.label) for ex in train] == [
        (("The", '"cat"', "sat"), (0,), "DET"),
        (("The", '"cat"', "sat"), (1,), "NOUN"),
        (("The", '"cat"', "sat"), (2,), "VERB"),
        (("NA", "runs"), (0,), "NOUN"),  # "NA" stays a word, not a missing value
        (("NA", "runs"), (1,), "VERB"),
    ]
    assert data.splits["train"].n_sentences == 2 and data.labels == ["DET", "NOUN", "VERB"]


def test_csv_pair_task(tmp_path):
    write(tmp_path, "train.csv", "sentence,first,second,rel\nthe cat sat,1,0,det\ncats sat,1,0,x\n")
    write(tmp_path, "test.csv", "sentence,first,second,rel\na dog ran,2,1,nsubj\n")
    path = spec(
        tmp_path,
        """
[source]
train = "train.csv"
test = "test.csv"
[text]
text = "sentence"
[target]
kind = "pair"
first = "first"
second = "second"
[label]
column = "rel"
""",
    )
    _, data = load_task(path)
    assert [(ex.targets, ex.label) for ex in data.splits["train"].examples] == [
        ((1, 0), "det"),
        ((1, 0), "x"),
    ]
    assert data.splits["test"].examples[0] == Example(
        ("a", "dog", "ran"), (2, 1), "nsubj", "test.csv#1"
    )


def test_json_array_span_task(tmp_path):
    rows = [
        {"tokens": ["New", "York", "is", "big"], "start": 0, "end": 2, "type": "LOC"},
        {"tokens": ["Ada", "Lovelace", "wrote"], "start": 0, "end": 2, "type": "PER"},
        {"tokens": ["I", "met", "Ada"], "start": 2, "end": 3, "type": "PER"},
    ]
    write(tmp_path, "train.json", json.dumps(rows))
    write(tmp_path, "test.json", json.dumps(rows[:1]))
    path = spec(
        tmp_path,
        """
[source]
train = "train.json"
test = "test.json"
[text]
words = "tokens"
[target]
kind = "span"
start = "start"
end = "end"
[label]
column = "type"
""",
    )
    _, data = load_task(path)
    assert [(ex.targets, ex.label) for ex in data.splits["train"].examples] == [
        ((0, 1), "LOC"),
        ((0, 1), "PER"),
        ((2,), "PER"),
    ]


def test_parquet_sentence_pair_task(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "premise": ["a man sleeps", "a dog runs", "kids play"],
            "hypothesis": ["a man rests", "a cat sits", "children play outside"],
            "label": ["entail", "contradict", "neutral"],
        }
    )
    pq.write_table(table, tmp_path / "train.parquet")
    pq.write_table(table.slice(0, 2), tmp_path / "test.parquet")
    path = spec(
        tmp_path,
        """
[source]
train = "train.parquet"
test = "test.parquet"
[text]
text = "premise"
text_pair = "hypothesis"
[target]
kind = "sentence-pair"
[label]
column = "label"
""",
    )
    _, data = load_task(path)
    first = data.splits["train"].examples[0]
    assert first.words == ("a", "man", "sleeps", "a", "man", "rests") and first.targets == (3,)
    assert data.target == "sentence-pair" and len(data.splits["test"].examples) == 2


CONLLU = """# sent_id = s1
1\tThe\tthe\tDET\tDT\tDefinite=Def|PronType=Art\t2\tdet\t_\t_
2\tcats\tcat\tNOUN\tNNS\tNumber=Plur\t3\tnsubj\t_\t_
3\tsleep\tsleep\tVERB\tVBP\tMood=Ind|Number=Plur|Tense=Pres\t0\troot\t_\t_

# sent_id = s2
1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tdo\tdo\tAUX\tVBP\tNumber=Sing\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\tgo\tgo\tVERB\tVB\tVerbForm=Inf\t0\troot\t_\t_

"""


@pytest.mark.parametrize(
    ("label", "kind", "expected", "skipped"),
    [
        (
            'field = "XPOS"',
            "word",
            ["DT", "NNS", "VBP", "VBP", "RB", "VB"],
            {},
        ),
        (
            'field = "FEATS"\nfeature = "Number"',
            "word",
            ["Plur", "Plur", "Sing"],
            {"words without Number": 3},
        ),
        (
            'field = "DEPREL"',
            "pair",
            ["det", "nsubj", "aux", "advmod"],
            {"root words (no head)": 2},
        ),
    ],
)
def test_conllu_fields(tmp_path, label, kind, expected, skipped):
    write(tmp_path, "a.conllu", CONLLU)
    path = spec(
        tmp_path,
        f"""
[source]
train = "a.conllu"
test = "a.conllu"
[target]
kind = "{kind}"
[label]
{label}
""",
    )
    _, data = load_task(path)
    train = data.splits["train"]
    assert [ex.label for ex in train.examples] == expected
    assert train.skipped == skipped and train.n_sentences == 2
    if kind == "pair":
        assert train.examples[0].targets == (1, 0)  # (head, dependent)


def test_label_filters_and_min_count(tmp_path):
    rows = [{"t": f"w{i}", "y": y} for i, y in enumerate("aaabbcd")]
    jsonl(tmp_path, "train.jsonl", rows)
    jsonl(tmp_path, "test.jsonl", rows)
    base = """
[source]
train = "train.jsonl"
test = "test.jsonl"
[text]
words = "t"
[target]
kind = "sentence"
[label]
column = "y"
"""
    _, data = load_task(spec(tmp_path, base + "min_count = 2\n"))
    assert data.splits["train"].label_counts() == Counter({"a": 3, "b": 2})
    _, data = load_task(spec(tmp_path, base + 'drop = ["a"]\nmap = { "d" = "c" }\n', "b.toml"))
    assert data.splits["test"].label_counts() == Counter({"b": 2, "c": 2})
    assert data.splits["test"].skipped == {"examples with a filtered label": 3}


# ------------------------------------------------------------------- ratio splits
def test_seeded_ratio_split_of_one_file(tmp_path):
    rows = [{"text": f"sentence number {i}", "label": "ab"[i % 2]} for i in range(50)]
    jsonl(tmp_path, "all.jsonl", rows)
    body = """
[source]
file = "all.jsonl"
[text]
text = "text"
[target]
kind = "sentence"
[label]
column = "label"
[split]
train = 0.7
dev = 0.1
test = 0.2
seed = {seed}
"""
    _, data = load_task(spec(tmp_path, body.format(seed=3)))
    ids = {s: [ex.sentence_id for ex in sp.examples] for s, sp in data.splits.items()}
    assert list(ids) == ["train", "dev", "test"]
    assert [len(v) for v in ids.values()] == [35, 5, 10]  # floor(50*.7), floor(50*.1), rest
    every = [i for v in ids.values() for i in v]
    assert sorted(every) == sorted(f"all.jsonl#{i + 1}" for i in range(50))
    assert all(ids[s] == sorted(ids[s], key=lambda x: int(x.split("#")[1])) for s in ids)
    assert len({sp.fingerprint() for sp in data.splits.values()}) == 3
    _, again = load_task(spec(tmp_path, body.format(seed=3)))
    assert [ex.sentence_id for ex in again.splits["train"].examples] == ids["train"]
    _, other = load_task(spec(tmp_path, body.format(seed=4)))
    assert [ex.sentence_id for ex in other.splits["train"].examples] != ids["train"]


# --------------------------------------------------------------------- identity
def test_cache_identity_follows_spec_and_data(tmp_path):
    jsonl(tmp_path, "train.jsonl", [{"t": "a b", "y": "x"}, {"t": "c", "y": "z"}])
    jsonl(tmp_path, "test.jsonl", [{"t": "a", "y": "x"}])
    body = """
version = "{v}"
[source]
train = "train.jsonl"
test = "test.jsonl"
[text]
text = "t"
[target]
kind = "sentence"
[label]
column = "y"
"""

    class FakeEncoder:
        fingerprint = "f"

    def key(version: str, pooling: str | None = None) -> dict:
        s, d = load_task(spec(tmp_path, body.format(v=version)))
        return cache_parts(s, d, "train", FakeEncoder(), 512, pooling)  # type: ignore[arg-type]

    first = key("1")
    assert first["task_version"].startswith("1+spec-") and "pooling" not in first
    assert key("1") == first
    assert key("2")["task_version"] != first["task_version"]
    jsonl(tmp_path, "train.jsonl", [{"t": "a b", "y": "x"}, {"t": "c", "y": "w"}])  # a label
    changed = key("1")
    assert changed["data"] != first["data"] and changed["examples"] == first["examples"]
    assert key("1", "mean")["pooling"] == "mean"


# --------------------------------------------------------------------- hub layout
def test_hub_dataset_from_a_local_copy(tmp_path):
    """A folder laid out like a hub dataset repository loads through the same datasets code
    path as a hub id (offline)."""
    repo = tmp_path / "my-dataset"
    (repo / "data").mkdir(parents=True)
    jsonl(repo / "data", "train.jsonl", [{"sentence": "good", "label": 1}] * 3)
    jsonl(repo / "data", "validation.jsonl", [{"sentence": "bad", "label": 0}] * 2)
    path = spec(
        tmp_path,
        f"""
[source]
hub = "{repo}"
train = "train"
test = "validation"
[text]
text = "sentence"
[target]
kind = "sentence"
[label]
column = "label"
map = {{ "0" = "negative", "1" = "positive" }}
""",
    )
    got = info(path)
    assert got["splits"]["train"]["top_labels"] == [["positive", 3]]
    assert got["splits"]["test"]["top_labels"] == [["negative", 2]]
    before = got["splits"]["train"]["fingerprint"]
    jsonl(repo / "data", "train.jsonl", [{"sentence": "good", "label": 1}] * 4)
    assert info(path)["splits"]["train"]["fingerprint"] != before


# ----------------------------------------------------------------------- errors
GOOD = {
    "train.jsonl": [{"t": "a b c", "i": 1, "y": "x"}, {"t": "d e", "i": 0, "y": "z"}],
    "test.jsonl": [{"t": "a b", "i": 0, "y": "x"}],
}
BODY = """
[source]
train = "train.jsonl"
test = "test.jsonl"
[text]
text = "t"
[target]
kind = "word"
index = "i"
[label]
column = "y"
"""


@pytest.mark.parametrize(
    ("edit", "rows", "expected"),
    [
        (('column = "y"', 'column = "tag"'), None, "column 'tag' (spec field label.column)"),
        (None, {"train.jsonl": [{"t": "a", "i": 0, "y": ""}]}, "train.jsonl:1: row 1: label"),
        (None, {"train.jsonl": [{"t": "a b", "i": 5, "y": "x"}]}, "word index 5 is out of range"),
        (
            ('kind = "word"\nindex = "i"', 'kind = "span"\nstart = "i"\nend = "e"'),
            {"train.jsonl": [{"t": "a b", "i": 1, "e": 4, "y": "x"}]},
            "span [1, 4) is beyond",
        ),
        (('kind = "word"', 'kind = "phrase"'), None, "field 'target.kind'"),
        (("[label]", '[label]\nkeep = ["nothing"]'), None, "split 'train' has no examples"),
        (("[text]", "[txt]"), None, "field 'txt': unknown field"),
        (("train.jsonl", "missing.jsonl"), None, "missing.jsonl does not exist"),
        (("[source]", "[source"), None, "not valid TOML"),
    ],
)
def test_bad_specs_and_data_are_one_line_errors(tmp_path, edit, rows, expected):
    for name, content in {**GOOD, **(rows or {})}.items():
        jsonl(tmp_path, name, content)
    body = BODY.replace(*edit) if edit else BODY
    path = spec(tmp_path, body)
    message = error_of(path)
    assert expected in message
    assert "task.toml" in message or ".jsonl" in message


def test_unknown_conllu_field_is_an_error(tmp_path):
    write(tmp_path, "a.conllu", CONLLU)
    body = '[source]\ntrain = "a.conllu"\ntest = "a.conllu"\n[target]\nkind = "word"\n'
    message = error_of(spec(tmp_path, body + '[label]\nfield = "LEMMAS"\n'))
    assert "field 'label.field'" in message and "UPOS, XPOS, DEPREL, FEATS" in message


def test_missing_spec_file_is_an_error(tmp_path):
    assert "task spec file not found" in error_of(str(tmp_path / "nope.toml"))


# -------------------------------------------------------------------- templates
@pytest.mark.parametrize("kind", ["word", "span", "pair", "sentence", "sentence-pair", "hub"])
def test_templates_are_valid_toml_of_their_kind(kind):
    result = CliRunner().invoke(cli, ["tasks", "template", kind])
    assert result.exit_code == 0
    assert CliRunner().invoke(cli, ["tasks", "new", kind]).output == result.output
    parsed = tomllib.loads(result.output)
    assert parsed["target"]["kind"] == ("sentence" if kind == "hub" else kind)


def test_conllu_template_runs_on_ewt(tmp_path, data_dir):
    text = CliRunner().invoke(cli, ["tasks", "template", "conllu"]).output
    ewt = data_dir / "ud_english_ewt"
    path = spec(tmp_path, text.replace('"en_ewt', f'"{ewt}/en_ewt'), "number.toml")
    got = info(path)
    assert got["task"] == "number-ewt" and got["labels"] == ["Plur", "Ptan", "Sing"]


# ------------------------------------------------------------- EWT Number, counted
def test_ewt_number_counts_match_an_independent_count(tmp_path, data_dir):
    """The spec task's label counts and skipped words equal a count made with the ``conllu``
    package (its own parser) over the same files: syntactic words only."""
    import conllu

    ewt = data_dir / "ud_english_ewt"
    path = spec(
        tmp_path,
        f"""
[source]
train = "{ewt}/en_ewt-ud-train.conllu"
dev = "{ewt}/en_ewt-ud-dev.conllu"
test = "{ewt}/en_ewt-ud-test.conllu"
[target]
kind = "word"
[label]
field = "FEATS"
feature = "Number"
""",
    )
    _, data = load_task(path)
    for split in ("train", "dev", "test"):
        counts: Counter[str] = Counter()
        without = 0
        with open(ewt / f"en_ewt-ud-{split}.conllu", encoding="utf-8") as fh:
            for sentence in conllu.parse_incr(fh):
                for token in sentence:
                    if not isinstance(token["id"], int):
                        continue  # multiword ranges and empty nodes
                    number = (token["feats"] or {}).get("Number")
                    if number is None:
                        without += 1
                    else:
                        counts[number] += 1
        got = data.splits[split]
        assert got.label_counts() == counts, split
        assert got.skipped == {"words without Number": without}, split
    train = data.splits["train"].label_counts()
    assert set(train) == {"Sing", "Plur", "Ptan"} and train["Sing"] > train["Plur"] > 1000


# ------------------------------------------------------------ the pattern mechanism
class StarTasks:
    """A third-party pattern task: names ``N.stars`` stand for N one-word sentences."""

    @staticmethod
    def _resolve(name: str) -> TaskSpec:
        n = int(name.split(".")[0])

        def load(source):
            exs = [Example(("star",) * (i + 1), (), str(i % 2)) for i in range(n)]
            return TaskData(
                name, "sentence", {"train": Split("train", exs, n), "test": Split("test", exs, n)}
            )

        return TaskSpec(name=name, description="stars", target="sentence", load=load)

    @hookimpl
    def register_tasks(self, register):
        register(
            TaskSpec(
                name="N.stars",
                description="N star sentences",
                target="sentence",
                load=lambda source: None,  # type: ignore[arg-type,return-value]
                accepts=lambda name: name.endswith(".stars") and name[0].isdigit(),
                resolve=self._resolve,
            )
        )


def test_a_third_party_pattern_task_resolves_through_the_registry():
    pluginmanager.register(StarTasks(), name="star-tasks")
    try:
        spec_, data = load_task("4.stars")
        assert spec_.name == "4.stars" and len(data.splits["train"].examples) == 4
        assert tasks().owner("4.stars") == "star-tasks"
        with pytest.raises(FtprobeError, match="unknown task"):
            tasks().get("stars")
    finally:
        pluginmanager.unregister("star-tasks")
