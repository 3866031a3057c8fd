from kgflow.graph.base import ChunkRow
from kgflow.retrieval.engine import without_overlap
from kgflow.retrieval.graph_view import GraphView

FIRST = "Helix Logistics moved its depot. The new depot in Hamburg opened in the spring of that year."
SECOND = "The new depot in Hamburg opened in the spring of that year. It employs forty drivers."


def _view() -> GraphView:
    rows = {"entities": [], "related": [], "mentions": [],
            "chunks": [ChunkRow(f"c{i}", text, i, None, "d1", "Memo", "file:///memo.txt", ["public"])
                       for i, text in enumerate([FIRST, SECOND])]}
    return GraphView.from_rows(rows.__getitem__)


def test_a_chunk_drops_the_text_it_repeats_from_its_predecessor_when_both_are_in_the_context():
    assert without_overlap(_view().chunks["c1"], _view(), {"c0", "c1"}).text == "It employs forty drivers."


def test_a_chunk_keeps_its_overlap_when_its_predecessor_is_not_in_the_context():
    v = _view()
    assert without_overlap(v.chunks["c1"], v, {"c1"}).text == SECOND


def test_the_first_chunk_of_a_document_is_never_cut():
    v = _view()
    assert without_overlap(v.chunks["c0"], v, {"c0", "c1"}).text == FIRST
