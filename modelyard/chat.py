"""``modelyard run``: one streamed answer, or an interactive chat.

Tokens are written to stdout as they arrive. Ctrl-C during an answer closes the stream; the
manager passes the disconnect on and the inference server stops generating at its next step.
In a chat that ends the answer, not the chat.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from modelyard.client import CliError, ManagerClient, error_from_body
from modelyard.sse import parse_sse

BUSY_RETRIES = 20
HELP = "Commands: /bye (or Ctrl-D) leaves, /clear forgets the conversation, /? shows this."


@dataclass
class Sampling:
    max_tokens: int | None = None
    temperature: float | None = None
    system: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            body["temperature"] = self.temperature
        return body


@dataclass
class Conversation:
    """The messages of one chat session (the system prompt survives ``/clear``)."""

    system: str | None = None
    messages: list[dict[str, str]] = field(default_factory=list)

    def payload(self) -> list[dict[str, str]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + self.messages

    def clear(self) -> None:
        self.messages.clear()


@dataclass
class Answer:
    text: str
    finish_reason: str | None
    usage: dict[str, Any] | None


def stream_chat(
    client: ManagerClient,
    model: str,
    messages: list[dict[str, str]],
    sampling: Sampling,
    on_text: Callable[[str], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Answer:
    """Stream one answer, handing each piece of text to ``on_text``.

    A 503 with ``Retry-After`` (model loading, pool busy) is retried after that wait.
    """
    body = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        **sampling.body(),
    }
    for attempt in range(BUSY_RETRIES + 1):
        try:
            with client.stream(
                "POST", "/v1/chat/completions", json_body=body, read_timeout=None
            ) as response:
                return _read_answer(_chunks(response.iter_lines()), on_text)
        except CliError as exc:
            if exc.status != 503 or attempt == BUSY_RETRIES or exc.retry_after is None:
                raise
            sleep(min(exc.retry_after, 5.0))
    raise AssertionError("unreachable")  # pragma: no cover


def _chunks(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for event in parse_sse(lines):
        if event.data == "[DONE]":
            return
        chunk = json.loads(event.data)
        if "error" in chunk:
            raise error_from_body(500, chunk, fallback="the answer failed")
        yield chunk


def _read_answer(chunks: Iterator[dict[str, Any]], on_text: Callable[[str], None]) -> Answer:
    parts: list[str] = []
    finish: str | None = None
    usage: dict[str, Any] | None = None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices", []):
            text = (choice.get("delta") or {}).get("content")
            if text:
                parts.append(text)
                on_text(text)
            finish = choice.get("finish_reason") or finish
    return Answer("".join(parts), finish, usage)


def write_through(out: TextIO) -> Callable[[str], None]:
    def write(text: str) -> None:
        out.write(text)
        out.flush()

    return write


def one_shot(
    client: ManagerClient, model: str, prompt: str, sampling: Sampling, *, as_json: bool
) -> Answer:
    """One answer to ``prompt``, streamed to stdout (collected and printed as JSON with
    ``--json``)."""
    conversation = Conversation(system=sampling.system)
    conversation.messages.append({"role": "user", "content": prompt})
    sink = (lambda _text: None) if as_json else write_through(sys.stdout)
    answer = stream_chat(client, model, conversation.payload(), sampling, sink)
    if not as_json and not answer.text.endswith("\n"):
        sys.stdout.write("\n")
        sys.stdout.flush()
    return answer


def interactive(
    client: ManagerClient,
    model: str,
    sampling: Sampling,
    *,
    read: Callable[[str], str] = input,
    out: TextIO | None = None,
) -> None:
    """A chat until ``/bye`` or end of input; history kept for the session."""
    out = out or sys.stdout
    say = write_through(out)
    conversation = Conversation(system=sampling.system)
    say(f"Chatting with {model}. {HELP}\n")
    while True:
        try:
            line = read(">>> ")
        except EOFError:
            say("\n")
            return
        except KeyboardInterrupt:
            say("\n(Ctrl-D or /bye leaves)\n")
            continue
        text = line.strip()
        if not text:
            continue
        if text in ("/bye", "/exit", "/quit"):
            return
        if text == "/clear":
            conversation.clear()
            say("(conversation cleared)\n")
            continue
        if text in ("/?", "/help"):
            say(HELP + "\n")
            continue
        conversation.messages.append({"role": "user", "content": line})
        parts: list[str] = []

        def collect(piece: str, parts: list[str] = parts) -> None:
            parts.append(piece)
            say(piece)

        try:
            answer = stream_chat(client, model, conversation.payload(), sampling, collect)
        except KeyboardInterrupt:
            # The stream is closed: the server cancels the generation. Keep what was said.
            say("\n(stopped)\n")
            conversation.messages.append({"role": "assistant", "content": "".join(parts)})
            continue
        except CliError as exc:
            conversation.messages.pop()
            say(f"\nError: {exc.message}\n")
            for step in exc.steps:
                say(f"  → {step}\n")
            continue
        say("\n" if not answer.text.endswith("\n") else "")
        conversation.messages.append({"role": "assistant", "content": answer.text})
