"""The demo's traffic: sparse user requests over a simulated day, repeats and bursts.

Everything is drawn from one seeded RNG, so the three set-ups replay the very same
requests at the very same (simulated) times.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["QUESTIONS", "Request", "make_traffic", "working_days"]

#: Questions users ask, from short (routed to the small tier) to long (the large tier).
QUESTIONS: tuple[str, ...] = (
    "What is our refund window?",
    "Translate 'good morning' to French.",
    "Summarise this ticket in one line.",
    "Is the API up?",
    "What time zone is the Berlin office in?",
    "Give me a subject line for a renewal email.",
    "Spell-check: 'recieve the pakage'.",
    "What does HTTP 429 mean?",
    "Convert 72 F to Celsius.",
    "Suggest a name for a cache service.",
    "Explain why our p99 latency doubled after the last deploy, given that CPU is flat.",
    "Compare Redis and SQLite as a shared cache for three replicas behind a load balancer.",
    "Why does the first request of the morning take twelve seconds when later ones are fast?",
    "Draft a polite reply to a customer who was charged twice, offering a refund and credit.",
    "Analyze this error: 'connection reset by peer' during streaming, and list likely causes.",
    "Design a retry policy for an LLM API that returns 429 with Retry-After during peak hours,"
    " explain how it interacts with a fallback to a second model, and prove it cannot"
    " amplify load on the provider when every replica hits the limit at once.",
    "Explain the trade-offs between keeping a model warm with pings, paying for provisioned"
    " throughput, and accepting cold starts, for a product with twenty users a day spread"
    " over three time zones, and recommend one with a cost estimate.",
)


def working_days(count: int, *, days: int, seed: int, mean_gap: float = 240.0) -> list[Request]:
    """Return ``days`` working days of :func:`make_traffic`, ``count`` requests each.

    Day ``d`` starts ``d`` days after the first (the nights between are silent), with
    traffic drawn from seed ``seed + d``: the same rhythm, different requests.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    requests: list[Request] = []
    for day in range(days):
        for request in make_traffic(count, seed=seed + day, mean_gap=mean_gap):
            requests.append(Request(round(day * 86_400.0 + request.at, 3), request.question))
    return requests


@dataclass(frozen=True)
class Request:
    """One user request: when it arrives (simulated seconds) and what it asks."""

    at: float
    question: str


def make_traffic(count: int, *, seed: int, mean_gap: float = 240.0) -> list[Request]:
    """Return ``count`` requests: Poisson arrivals with a few bursts, popular repeats.

    ``mean_gap`` (simulated seconds) is the mean gap between requests outside bursts;
    around the provider's keep-alive, so that an unwarmed model is often cold.
    Popularity follows a Zipf-like law, so about a third of the questions repeat.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(QUESTIONS))]
    order = list(QUESTIONS)
    rng.shuffle(order)
    bursts = {rng.randrange(count) for _ in range(max(1, count // 40))}
    requests: list[Request] = []
    now = 0.0
    while len(requests) < count:
        now += rng.expovariate(1.0 / mean_gap)
        size = rng.randint(5, 10) if len(requests) in bursts else 1
        at = now
        for _ in range(min(size, count - len(requests))):
            requests.append(Request(round(at, 3), rng.choices(order, weights)[0]))
            at += rng.uniform(0.2, 3.0)  # a burst: several users within seconds
        now = at
    return requests
