from kgflow.gateway.stream_mask import StreamMasker


def _stream(pieces: list[str]) -> str:
    m = StreamMasker()
    return "".join(m.feed(p) for p in pieces) + m.finish()


def test_pii_split_across_tokens_never_leaves_unmasked():
    pieces = ["Mail ", "jane", ".doe@", "corvane", ".example", " or call +47 ", "912 34 ", "567 today."]
    out = _stream(pieces)
    assert "jane" not in out and "912" not in out
    assert "[EMAIL]" in out and "[PHONE]" in out


def test_plain_text_streams_through_unchanged():
    text = "The quarterly roadmap was reviewed by the whole team and approved without changes."
    assert _stream([text[i:i + 5] for i in range(0, len(text), 5)]) == text
