"""facts_of(): the one read of a whole response gives what ResponseFacts.read() gives."""

from __future__ import annotations

from types import SimpleNamespace as NS
from typing import Any

import pytest
from ollama import ChatResponse
from openai.types.chat import ChatCompletion

from llmwarm.trace._responses import ResponseFacts, facts_of

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi"}},
        {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "H"}},
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46},
}

SHAPES: dict[str, Any] = {
    "openai chat completion": ChatCompletion.model_validate(COMPLETION),
    "without usage": ChatCompletion.model_validate({**COMPLETION, "usage": None}),
    "as a dict": COMPLETION,
    "object with dict choices": NS(model="m", id="i", usage=None, choices=[{"finish_reason": "x"}]),
    "usage with one count": NS(
        model="m", id="i", usage=NS(prompt_tokens=3, completion_tokens=None, output_tokens=7),
        choices=[NS(finish_reason="stop")],
    ),
    "usage under the Responses API names": NS(
        model="m", id="i", usage=NS(input_tokens=5, output_tokens=6),
        choices=[NS(finish_reason="stop")],
    ),
    "usage as a dict": NS(
        model="m", id=None, usage={"prompt_tokens": 1, "completion_tokens": 2},
        choices=[NS(finish_reason=None)],
    ),
    "values of the wrong types": NS(
        model=3, id="", usage=NS(prompt_tokens="1", completion_tokens=2.0),
        choices=[NS(finish_reason="")],
    ),
    "no choices (Responses API)": NS(
        model="m", id="r", status="completed", usage=NS(input_tokens=5, output_tokens=6),
        choices=None, output_text="Hi",
    ),
    "empty choices": NS(model="m", id="i", usage=None, choices=[]),
    "ollama chat": ChatResponse.model_validate(
        {
            "model": "llama3.2", "done": True, "done_reason": "stop", "prompt_eval_count": 9,
            "eval_count": 4, "message": {"role": "assistant", "content": "Hello"},
        }
    ),
    "none": None,
}  # fmt: skip


@pytest.mark.parametrize("content", [False, True])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_facts_of_reads_every_shape_as_response_facts_does(shape: str, content: bool) -> None:
    response = SHAPES[shape]
    facts = ResponseFacts()
    facts.read(response, content=content)
    model, rid, reasons, tin, tout, text = facts_of(response, content)
    assert (model, rid, reasons, tin, tout) == (
        facts.model, facts.id, facts.finish_reasons, facts.input_tokens, facts.output_tokens,
    )  # fmt: skip
    # The answer text is only collected when content is captured.
    assert (text or []) == (facts.text if content else [])


def test_an_openai_completion_is_read_in_full() -> None:
    assert facts_of(SHAPES["openai chat completion"], False) == (
        "gpt-4o-mini-2024-07-18", "chatcmpl-1", ["stop", "length"], 12, 34, None,
    )  # fmt: skip
