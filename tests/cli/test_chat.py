"""``modelyard run`` as an interactive chat, driven through a pseudo-terminal."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import httpx
import pexpect

from modelyard import chat as chat_session
from modelyard.client import ManagerClient
from tests.cli.conftest import MODEL, TOKEN, Stack, cli_env, console_script, wait_until
from tests.cli.test_commands import long_prompt

PROMPT = ">>> "


def chat(stack: Stack, *args: str) -> pexpect.spawn:
    child = pexpect.spawn(
        str(console_script()),
        ["run", MODEL, "--temperature", "0", *args],
        env=cli_env(stack.url),
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 160),
    )
    child.expect_exact(PROMPT)
    return child


def test_chat_answers_clears_and_leaves(stack: Stack) -> None:
    child = chat(stack, "--max-tokens", "6")
    try:
        child.sendline("hello there")
        child.expect_exact(PROMPT)
        first_answer = str(child.before).split("hello there", 1)[1].strip()
        assert first_answer
        child.sendline("/clear")
        child.expect_exact("(conversation cleared)")
        child.expect_exact(PROMPT)
        # After /clear the same message starts a fresh conversation: the same greedy answer.
        child.sendline("hello there")
        child.expect_exact(PROMPT)
        assert str(child.before).split("hello there", 1)[1].strip() == first_answer
        child.sendline("/bye")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_the_chat_sends_its_history_until_cleared(stack: Stack) -> None:
    """Each turn is sent with the conversation so far; ``/clear`` starts a new one."""
    sent: list[dict[str, Any]] = []

    def record(request: httpx.Request) -> None:
        if request.url.path == "/v1/chat/completions":
            sent.append(json.loads(request.content))

    lines = iter(["first question", "second question", "/clear", "third question", "/bye"])
    out = io.StringIO()
    with ManagerClient(stack.url, TOKEN) as client:
        client.http.event_hooks["request"].append(record)
        sampling = chat_session.Sampling(max_tokens=3, temperature=0, system="be brief")
        chat_session.interactive(client, MODEL, sampling, read=lambda _prompt: next(lines), out=out)
    roles = [[(m["role"], m["content"]) for m in body["messages"]] for body in sent]
    assert len(roles) == 3
    assert roles[0] == [("system", "be brief"), ("user", "first question")]
    assert roles[1][:2] == roles[0] and roles[1][2][0] == "assistant" and roles[1][2][1]
    assert roles[1][3] == ("user", "second question")
    assert roles[2] == [("system", "be brief"), ("user", "third question")]
    assert "(conversation cleared)" in out.getvalue()


def test_ctrl_c_stops_the_answer_not_the_chat(stack: Stack) -> None:
    prompt = long_prompt(stack)
    child = chat(stack, "--max-tokens", "400")
    try:
        before = stack.slot(MODEL)["tokens_generated"]
        child.sendline(prompt)
        wait_until(lambda: stack.slot(MODEL)["active_requests"] == 1, what="generation")
        child.sendintr()
        child.expect_exact("(stopped)")
        child.expect_exact(PROMPT)
        wait_until(lambda: stack.slot(MODEL)["active_requests"] == 0, what="the cancel")
        settled = stack.slot(MODEL)["tokens_generated"]
        time.sleep(0.3)
        assert stack.slot(MODEL)["tokens_generated"] == settled
        assert settled - before < 300
        # The chat goes on.
        child.sendline("/bye")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
