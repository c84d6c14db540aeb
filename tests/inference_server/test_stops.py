from inference_server.runtime.stops import StopScanner


def feed_all(scanner: StopScanner, pieces: list[str]) -> tuple[str, bool]:
    out = []
    for piece in pieces:
        text, stopped = scanner.feed(piece)
        out.append(text)
        if stopped:
            return "".join(out), True
    out.append(scanner.flush())
    return "".join(out), False


def test_no_stops_passes_everything_through() -> None:
    assert feed_all(StopScanner([]), ["a", "b", "c"]) == ("abc", False)


def test_stop_inside_one_piece() -> None:
    assert feed_all(StopScanner(["END"]), ["hello END world"]) == ("hello ", True)


def test_stop_split_across_pieces() -> None:
    assert feed_all(StopScanner(["END"]), ["hello E", "N", "D more"]) == ("hello ", True)


def test_partial_match_is_held_then_released() -> None:
    scanner = StopScanner(["END"])
    assert scanner.feed("hello EN") == ("hello ", False)
    assert scanner.feed("X") == ("ENX", False)


def test_held_tail_flushed_at_the_end() -> None:
    assert feed_all(StopScanner(["STOP"]), ["abc S", "T"]) == ("abc ST", False)


def test_earliest_of_several_stops_wins() -> None:
    assert feed_all(StopScanner(["zz", "b"]), ["a", "bzz"]) == ("a", True)


def test_stop_at_the_very_start() -> None:
    assert feed_all(StopScanner(["x"]), ["xyz"]) == ("", True)


def test_unicode_stop() -> None:
    assert feed_all(StopScanner(["é!"]), ["caf", "é", "!", " no"]) == ("caf", True)
