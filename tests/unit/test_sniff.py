"""Each kind of bad file is recognised before parsing, with the reason a user can act on."""

from pathlib import Path

import pytest

from kgflow.corpus.generator import generate_corpus
from kgflow.parse.errors import QuarantineError
from kgflow.parse.sniff import sniff

LIMIT = 200_000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("c") / "landing"
    return root, generate_corpus(root, n_docs=7, max_document_bytes=LIMIT)


def test_every_bad_file_gets_its_expected_reason(corpus):
    root, truth = corpus
    for bad in truth["bad_files"]:
        with pytest.raises(QuarantineError) as e:
            sniff(root / bad["path"], LIMIT)
        assert e.value.reason == bad["reason"], bad["path"]


def test_every_good_file_passes_with_its_format(corpus):
    root, truth = corpus
    for doc in truth["documents"]:
        assert sniff(root / doc["path"], LIMIT) == doc["format"]
