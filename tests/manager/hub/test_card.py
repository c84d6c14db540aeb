from __future__ import annotations

import pytest

from manager.hub.card import base_models_of, card_summary, license_of

CARD = """---
license: apache-2.0
base_model: Qwen/Qwen2.5-7B
tags:
- text-generation
---

<!-- Provide a quick summary -->

# Qwen2.5-7B-Instruct

<a href="https://chat.qwenlm.ai/"><img alt="Chat" src="https://img.shields.io/badge/chat"/></a>

[![badge](https://img.shields.io/x.svg)](https://example.com)

## Introduction

Qwen2.5 is the latest series of **Qwen** large language models. For Qwen2.5, we release a
number of [base language models](https://example.com/base) and `instruction-tuned` models.

- Significantly more knowledge.
"""


def test_card_summary_takes_first_prose_paragraph() -> None:
    assert card_summary(CARD) == (
        "Qwen2.5 is the latest series of Qwen large language models. For Qwen2.5, we release "
        "a number of base language models and instruction-tuned models."
    )


def test_card_summary_cuts_at_a_word() -> None:
    text = "word " * 200
    summary = card_summary(text, limit=50)
    assert summary is not None
    assert len(summary) <= 50
    assert summary.endswith("word…")


@pytest.mark.parametrize(
    "readme",
    [
        "",
        "---\nlicense: mit\n---\n",
        "# Title only\n\n## Another",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "```\ncode that is long enough to count as prose if it were\n```",
        "![image](x.png)",
        "> quoted text that is long enough to count",
        "Short.",
    ],
)
def test_card_summary_none_without_prose(readme: str) -> None:
    assert card_summary(readme) is None


def test_card_summary_handles_crlf_and_unterminated_front_matter() -> None:
    assert card_summary(
        "---\r\nlicense: mit\r\n---\r\n\r\nA model that does many useful things.\r\n"
    ) == ("A model that does many useful things.")
    assert card_summary("---\nnot closed\n\nA model that does many useful things.") == (
        "A model that does many useful things."
    )


@pytest.mark.parametrize(
    ("card", "tags", "expected"),
    [
        ({"license": "mit"}, [], "mit"),
        ({"license": ["apache-2.0", "mit"]}, [], "apache-2.0"),
        ({"license": "other", "license_name": "llama3.1"}, [], "llama3.1"),
        ({"license": "other"}, [], "other"),
        ({"license": 3}, ["license:mit"], "mit"),
        (None, ["license:gemma"], "gemma"),
        (None, ["license:"], None),
        ({}, [], None),
    ],
)
def test_license(card: dict | None, tags: list[str], expected: str | None) -> None:
    assert license_of(card, tags) == expected


@pytest.mark.parametrize(
    ("card", "tags", "expected"),
    [
        ({"base_model": "Qwen/Qwen2.5-7B"}, [], ["Qwen/Qwen2.5-7B"]),
        ({"base_model": ["a/b", "c/d", "a/b"]}, [], ["a/b", "c/d"]),
        (
            None,
            ["base_model:Qwen/Qwen2.5-7B", "base_model:quantized:Qwen/Qwen2.5-7B"],
            ["Qwen/Qwen2.5-7B"],
        ),
        ({"base_model": 5}, ["base_model:finetune:x/y"], ["x/y"]),
        (None, ["mlx"], []),
    ],
)
def test_base_models(card: dict | None, tags: list[str], expected: list[str]) -> None:
    assert base_models_of(card, tags) == expected
