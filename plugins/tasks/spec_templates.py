"""Commented task spec templates, one per kind (``ftprobe tasks template KIND``)."""

from __future__ import annotations

_HEAD = """\
# ftprobe task spec ({what}). Save as NAME.toml, then:
#   ftprobe tasks info NAME.toml      # check it: splits, counts, labels
#   ftprobe run --task NAME.toml --probe directprobe
# Paths are relative to this file. Editing this file or the data invalidates cached vectors.
name = "{name}"                # default: the file name without .toml
description = "{description}"
version = "1"                  # bump to force re-encoding (also part of every cache key)

"""

_LABEL_TAIL = """\
# map = {{ "0" = "negative", "1" = "positive" }}   # rename labels (applied first)
# keep = ["negative", "positive"]                 # only these labels (or: drop = [...])
# min_count = 5                                   # drop labels seen < 5 times in train
"""

_SPLIT = """\
# Only one file? Split its rows (sentences) with a seeded shuffle instead of train/test files:
# [source] file = "all.{ext}"
# [split]
# train = 0.8
# test = 0.2                   # (dev = 0.1 optional; fractions add up to 1)
# seed = 0
"""

TEMPLATES = {
    "sentence": _HEAD.format(
        what="sentence classification from JSONL",
        name="my-sentiment",
        description="sentence polarity",
    )
    + """\
[source]                       # csv, tsv, json, jsonl, parquet (by suffix) or hub
train = "train.jsonl"          # one JSON object per line: {"text": "...", "label": "pos"}
test = "test.jsonl"
# dev = "dev.jsonl"

[text]
text = "text"                  # raw text column, split into words ...
splitter = "whitespace"        # ... on whitespace, or "regex" with pattern = '\\w+|[^\\w\\s]'
# words = "tokens"             # or a column of pre-tokenised words (a list)

[target]
kind = "sentence"              # the [CLS] vector (--pooling mean: the mean of the subwords)

[label]
column = "label"
"""
    + _LABEL_TAIL
    + _SPLIT.format(ext="jsonl"),
    "sentence-pair": _HEAD.format(
        what="sentence-pair classification (NLI, paraphrase) from TSV",
        name="my-nli",
        description="premise/hypothesis entailment",
    )
    + """\
[source]
train = "train.tsv"            # header: premise<TAB>hypothesis<TAB>label
test = "test.tsv"

[text]
text = "premise"               # the first text
text_pair = "hypothesis"       # the second text (or words_pair for a list column)

[target]
kind = "sentence-pair"         # both texts encoded together: [CLS] a [SEP] b [SEP]

[label]
column = "label"
"""
    + _LABEL_TAIL
    + _SPLIT.format(ext="tsv"),
    "word": _HEAD.format(
        what="token tagging from TSV", name="my-tagging", description="a tag per word"
    )
    + """\
[source]
train = "train.tsv"            # header: tokens<TAB>tags, one sentence per row:
test = "test.tsv"              # The cat sat<TAB>DET NOUN VERB

[text]
words = "tokens"               # pre-tokenised words: a list, or a string split on spaces

[target]
kind = "word"                  # one example per word (the mean of its subwords;
                               # --pooling first|last for its first or last subword)
# index = "i"                  # or one word per row: the column with its 0-based index

[label]
column = "tags"                # one label per word (list, or space-separated string);
                               # with index: the row's label
"""
    + _LABEL_TAIL
    + _SPLIT.format(ext="tsv"),
    "span": _HEAD.format(
        what="spans (entity mentions, multi-word expressions) from JSONL",
        name="my-entities",
        description="entity type of each mention",
    )
    + """\
[source]
train = "train.jsonl"          # {"tokens": ["New", "York", "is", "big"], "start": 0, "end": 2,
test = "test.jsonl"            #  "type": "LOC"}

[text]
words = "tokens"

[target]
kind = "span"                  # the mean of the span's word vectors
start = "start"                # 0-based index of the first word
end = "end"                    # end exclusive

[label]
column = "type"
"""
    + _LABEL_TAIL
    + _SPLIT.format(ext="jsonl"),
    "pair": _HEAD.format(
        what="word pairs (relations) from CSV",
        name="my-relations",
        description="relation between two words",
    )
    + """\
[source]
train = "train.csv"            # header: sentence,first,second,relation
test = "test.csv"

[text]
text = "sentence"

[target]
kind = "pair"                  # the two word vectors concatenated (in this order)
first = "first"                # 0-based word indices
second = "second"

[label]
column = "relation"
"""
    + _LABEL_TAIL
    + _SPLIT.format(ext="csv"),
    "conllu": _HEAD.format(
        what="a CoNLL-U field (UD treebanks)",
        name="number-ewt",
        description="grammatical number (FEATS Number) of each word, UD English-EWT",
    )
    + """\
[source]                       # read by ftprobe's fast CoNLL-U reader
train = "en_ewt-ud-train.conllu"
dev = "en_ewt-ud-dev.conllu"
test = "en_ewt-ud-test.conllu"

[target]
kind = "word"                  # or "pair" (head, dependent) with field = "DEPREL"

[label]
field = "FEATS"                # UPOS, XPOS, DEPREL or FEATS
feature = "Number"             # the FEATS key; words without it are skipped and counted
"""
    + _LABEL_TAIL
    + _SPLIT.format(ext="conllu"),
    "hub": _HEAD.format(
        what="a Hugging Face hub dataset",
        name="sst2",
        description="SST-2 sentence polarity (GLUE)",
    )
    + """\
[source]
hub = "nyu-mll/glue"           # a hub id (network on first use, then the datasets cache)
config = "sst2"                # or a local folder laid out like a hub dataset
revision = "main"              # pin a commit for reproducible results
train = "train"                # our split = the dataset's split
test = "validation"

[text]
text = "sentence"

[target]
kind = "sentence"

[label]
column = "label"               # integer class ids become "0", "1", ...
map = { "0" = "negative", "1" = "positive" }
""",
}
