"""Stop strings over streamed text (pure).

Text arrives in pieces that can split a stop string across tokens. ``StopScanner.feed``
returns the text that is safe to emit now and whether a stop string was hit; it holds back
the longest tail that could still become a stop string.
"""

from __future__ import annotations


class StopScanner:
    __slots__ = ("_held", "_max_len", "_stops")

    def __init__(self, stops: list[str]) -> None:
        self._stops = [s for s in stops if s]
        self._max_len = max((len(s) for s in self._stops), default=0)
        self._held = ""

    def feed(self, piece: str) -> tuple[str, bool]:
        """Add ``piece``; return (text to emit, stopped)."""
        if not self._stops:
            return piece, False
        text = self._held + piece
        cut = -1
        for stop in self._stops:
            index = text.find(stop)
            if index != -1 and (cut == -1 or index < cut):
                cut = index
        if cut != -1:
            self._held = ""
            return text[:cut], True
        keep = self._partial_tail(text)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def flush(self) -> str:
        """The held-back tail, when generation ends without a stop string."""
        text, self._held = self._held, ""
        return text

    def _partial_tail(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that is a proper prefix of a stop string."""
        longest = min(len(text), self._max_len - 1)
        for size in range(longest, 0, -1):
            tail = text[-size:]
            if any(stop.startswith(tail) for stop in self._stops):
                return size
        return 0
