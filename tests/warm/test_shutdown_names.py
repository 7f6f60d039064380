"""``shutdown`` means one thing: ``llmwarm.shutdown`` and ``llmwarm.warm.shutdown`` are close()."""

from __future__ import annotations

from typing import Any

import llmwarm
from llmwarm import pooled, warm
from llmwarm.warm import shutdown

MODEL = "m-small"


def test_both_names_are_one_function() -> None:
    assert shutdown is llmwarm.shutdown


def test_warm_shutdown_closes_like_close_and_a_warmer_restarts_on_its_next_call() -> None:
    @pooled()
    def fetch(*, http_client: Any) -> Any:
        return http_client

    @warm(MODEL, interval=60, ping=lambda model: None)
    def idle(prompt: str, *, model: str = MODEL) -> str:
        return prompt

    client = fetch()
    idle("hi")
    assert idle.warmer.next_ping_at(MODEL) is not None
    shutdown()
    assert idle.warmer.next_ping_at(MODEL) is None
    assert client.is_closed  # pools close too: it is llmwarm.close()
    idle("again")  # ended by close(), not stopped: the next call starts it afresh
    assert idle.warmer.next_ping_at(MODEL) is not None
    idle.warmer.stop()  # stopping for good is the warmer's own stop()
    idle("once more")
    assert idle.warmer.next_ping_at(MODEL) is None
