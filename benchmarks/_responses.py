"""The realistic responses the benchmarks return and serve: a chat completion, its stream."""

from __future__ import annotations

from typing import Any

#: One OpenAI chat completion, as the API sends it.
COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Our refund window is 30 days."},
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46},
}
WORDS = ("Our ", "refund ", "window ", "is ", "30 ", "days.")


def chat_completion() -> Any:
    """The completion as the SDK returns it: an ``openai`` ``ChatCompletion`` (pydantic)."""
    from openai.types.chat import ChatCompletion

    return ChatCompletion.model_validate(COMPLETION)


def chat_chunks() -> list[Any]:
    """The same answer as the SDK streams it: ``ChatCompletionChunk`` objects."""
    from openai.types.chat import ChatCompletionChunk

    return [
        ChatCompletionChunk.model_validate(
            {
                "id": COMPLETION["id"],
                "object": "chat.completion.chunk",
                "created": COMPLETION["created"],
                "model": COMPLETION["model"],
                "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
            }
        )
        for word in WORDS
    ]
