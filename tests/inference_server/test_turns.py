"""Stop sequences matched over streamed text, naming the one that matched (pure)."""

from __future__ import annotations

from inference_server.turns import StopMatcher


def feed_all(matcher: StopMatcher, pieces: list[str]) -> str:
    out = ""
    for piece in pieces:
        out += matcher.feed(piece)
        if matcher.matched is not None:
            return out
    return out + matcher.flush()


def test_no_stops_passes_everything() -> None:
    matcher = StopMatcher([])
    assert feed_all(matcher, ["a", "b"]) == "ab"
    assert matcher.matched is None


def test_stop_split_across_pieces_is_found_and_named() -> None:
    matcher = StopMatcher(["END", "###"])
    assert matcher.feed("hello E") == "hello "  # "E" could start "END": held back
    assert matcher.feed("N") == ""
    assert matcher.feed("D and more") == ""
    assert matcher.matched == "END"


def test_earliest_stop_wins() -> None:
    matcher = StopMatcher(["zz", "b"])
    assert matcher.feed("abczz") == "a"
    assert matcher.matched == "b"


def test_held_text_that_never_stops_is_flushed() -> None:
    matcher = StopMatcher(["END"])
    assert feed_all(matcher, ["the E", "N"]) == "the EN"
    assert matcher.matched is None
