"""What the manager adds to a Responses request, and to its stream (pure)."""

from __future__ import annotations

import json

import pytest

from manager.errors import BadRequestError
from manager.responses.conversation import (
    forwarded_body,
    history,
    input_items,
    read_turn,
    with_state,
)
from manager.responses.events import EventPatcher


def test_read_turn() -> None:
    turn = read_turn(b'{"model": "m", "input": "hi"}')
    assert turn is not None
    assert turn.store is True  # the default, as OpenAI
    assert not turn.stateless
    stateless = read_turn(b'{"input": "hi", "store": false}')
    assert stateless is not None and stateless.stateless
    follow = read_turn(b'{"input": "hi", "store": false, "previous_response_id": "resp_1"}')
    assert follow is not None and not follow.stateless
    # Left to the inference server's schema: not JSON, not an object, wrong types.
    assert read_turn(b"nope") is None
    assert read_turn(b"[]") is None
    assert read_turn(b'{"store": "yes"}') is None
    assert read_turn(b'{"previous_response_id": 3}') is None


def test_input_items() -> None:
    assert input_items("hi") == [{"type": "message", "role": "user", "content": "hi"}]
    items = [{"type": "function_call_output", "call_id": "c", "output": "x"}]
    assert input_items(items) == items
    with pytest.raises(BadRequestError):
        input_items(5)


def test_history_appends_the_outputs_as_input_items() -> None:
    context = [{"type": "message", "role": "user", "content": "q"}]
    response = {
        "output": [
            {
                "id": "msg_1",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "a", "annotations": []}],
            },
            {
                "id": "fc_1",
                "type": "function_call",
                "status": "completed",
                "call_id": "call_1",
                "name": "f",
                "arguments": "{}",
            },
        ]
    }
    assert history(context, response) == [
        context[0],
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}]},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
    ]


def test_forwarded_body_asks_nothing_of_the_inference_server() -> None:
    body = {"model": "m", "input": "x", "previous_response_id": "resp_1", "store": True}
    sent = json.loads(forwarded_body(body, [{"type": "message", "role": "user", "content": "x"}]))
    assert "previous_response_id" not in sent
    assert sent["store"] is False
    assert sent["input"] == [{"type": "message", "role": "user", "content": "x"}]


def frame(kind: str, **data: object) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


def test_event_patcher_rewrites_response_events_and_passes_the_rest() -> None:
    turn = read_turn(b'{"input": "x", "previous_response_id": "resp_0"}')
    assert turn is not None
    created = frame("response.created", response={"id": "resp_1", "store": False})
    delta = frame("response.output_text.delta", delta="hé")
    done = frame("response.completed", response={"id": "resp_1", "store": False, "output": []})
    stream = created + delta + done
    patcher = EventPatcher(turn)
    out: list[tuple[bytes, object]] = []
    for cut in range(0, len(stream), 7):  # chunks that split events anywhere
        out.extend(patcher.feed(stream[cut : cut + 7]))
    assert patcher.rest() == b""
    assert len(out) == 3
    assert out[1] == (delta, None)  # byte for byte
    first = json.loads(out[0][0].split(b"data: ", 1)[1])
    assert first["response"]["store"] is True
    assert first["response"]["previous_response_id"] == "resp_0"
    assert out[0][1] is None
    finished = out[2][1]
    assert finished == with_state({"id": "resp_1", "store": False, "output": []}, turn)
