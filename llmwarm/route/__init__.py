"""``@routed``: pick a model tier per request; fallback, cool-downs, hedging."""

from llmwarm.route._classify import default_classifier
from llmwarm.route._handles import RouteDecorator, RoutedFunction
from llmwarm.route._routed import (
    DEFAULT_COOLDOWN,
    DEFAULT_FALLBACK,
    DEFAULT_HEDGE_AFTER,
    DEFAULT_MAX_COOLDOWN,
    DEFAULT_MAX_WAIT,
    DEFAULT_PREFER_WARM,
    RoutedPolicy,
    Router,
    Tier,
    routed,
)

__all__ = [
    "DEFAULT_COOLDOWN",
    "DEFAULT_FALLBACK",
    "DEFAULT_HEDGE_AFTER",
    "DEFAULT_MAX_COOLDOWN",
    "DEFAULT_MAX_WAIT",
    "DEFAULT_PREFER_WARM",
    "RouteDecorator",
    "RoutedFunction",
    "RoutedPolicy",
    "Router",
    "Tier",
    "default_classifier",
    "routed",
]
