"""``llmwarm.testing.reset()`` leaves each warmer as a new process would: idle, not dead."""

from __future__ import annotations

from llmwarm import warm
from llmwarm.testing import fake_clock, reset

MODEL = "m"


def test_a_function_decorated_before_fake_clock_pings_inside_it() -> None:
    sent: list[str] = []

    @warm(MODEL, interval=60, ping=sent.append)
    def complete(prompt: str, *, model: str = MODEL) -> str:
        return prompt

    with fake_clock() as clock:  # resets on entry: the warmer made above must survive it
        complete("hi")
        clock.advance(150)  # idle pings at +60 and +120
        assert complete.warmer.pings_sent == 2
    assert sent == [MODEL, MODEL]


def test_every_test_after_a_reset_sees_a_working_warmer() -> None:
    @warm(MODEL, interval=60, ping=lambda model: None)
    def complete(prompt: str, *, model: str = MODEL) -> str:
        return prompt

    for _ in range(3):  # as `llmwarm_reset = true` around three tests
        with fake_clock() as clock:
            complete("hi")
            clock.advance(61)
            assert complete.warmer.pings_sent == 1


def test_reset_forgets_backoff_and_counts() -> None:
    failing = [True]

    def ping(model: str) -> None:
        if failing[0]:
            raise RuntimeError("down")

    @warm(MODEL, interval=60, ping=ping)
    def complete(prompt: str, *, model: str = MODEL) -> str:
        return prompt

    with fake_clock() as clock:
        complete("hi")
        clock.advance(5000)  # failing pings back off
        assert complete.warmer.ping_failures > 3
    reset()
    failing[0] = False
    with fake_clock() as clock:
        assert complete.warmer.pings_sent == 0
        assert complete.warmer.ping_failures == 0
        assert not complete.warmer.is_warm(MODEL)  # no activity remembered
        complete("hi")
        clock.advance(61)  # no back-off left: the first idle ping is on time
        assert complete.warmer.pings_sent == 1
        assert complete.warmer.ping_failures == 0
