"""Command line of the simulator: ``llmwarm sim ...`` and ``python -m llmwarm.sim ...``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from llmwarm.sim._config import (
    DEFAULT_COLD_START,
    DEFAULT_COLD_START_JITTER,
    DEFAULT_KEEP_ALIVE,
    DEFAULT_MAX_TOKENS,
    DEFAULT_TOKEN_TIME,
    DEFAULT_TTFT,
    DEFAULT_WAKE_TIME,
    STYLES,
    ModelPolicy,
    SimConfig,
)

__all__ = ["DEFAULT_PORT", "add_arguments", "config_from_args", "run"]

DEFAULT_PORT = 8400


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 (0.01 = 100x faster), got {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def _model_override(text: str) -> tuple[str, dict[str, object]]:
    """Parse ``NAME:key=value,key=value`` (e.g. ``gpt-4o:cold_start=10,rate_429=0.1``).

    The options follow the *last* colon, so Ollama names keep their tag
    (``llama3.2:1b:cold_start=10``); option values hold no colon. They are numbers, but
    ``cold_start_style`` is a style name (``tgi:cold_start_style=loading-503``).
    """
    name, sep, rest = text.rpartition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME:key=value[,key=value...], got {text!r}")
    accepted = ModelPolicy.field_names()
    overrides: dict[str, object] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or key not in accepted:
            raise argparse.ArgumentTypeError(
                f"unknown model option {key!r} in {text!r}; accepted: {', '.join(accepted)}"
            )
        if key == "cold_start_style":
            overrides[key] = _style(value.strip())
            continue
        if key == "not_ready_status":
            overrides[key] = _status(value.strip())
            continue
        try:
            overrides[key] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{key} must be a number, got {value!r}") from None
    return name, overrides


def _style(text: str) -> str:
    if text not in STYLES:
        raise argparse.ArgumentTypeError(
            f"cold_start_style must be one of {', '.join(STYLES)}, got {text!r}"
        )
    return text


def _status(text: str) -> int:
    if text not in ("503", "429"):
        raise argparse.ArgumentTypeError(f"not_ready_status must be 503 or 429, got {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser`` (for ``llmwarm sim`` or ``-m llmwarm.sim``)."""
    net = parser.add_argument_group("server")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    net.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s)")
    lat = parser.add_argument_group("latency model (simulated seconds)")
    lat.add_argument(
        "--cold-start",
        type=_seconds,
        default=DEFAULT_COLD_START,
        help="time to load a model (default: %(default)s)",
    )
    lat.add_argument(
        "--cold-start-jitter",
        type=_rate,
        default=DEFAULT_COLD_START_JITTER,
        help="load time varies by +/- this fraction (default: %(default)s)",
    )
    lat.add_argument(
        "--cold-start-style",
        type=_style,
        default="blocking",
        metavar="{" + ",".join(STYLES) + "}",
        help="how a model answers while it loads: blocking waits; loading-503 answers 503 "
        "with estimated_time (Hugging Face/TGI); not-ready answers 503/429 with Retry-After "
        "(serverless); sleep wakes an idle model in --wake-time (vLLM) (default: %(default)s)",
    )
    lat.add_argument(
        "--wake-time",
        type=_seconds,
        default=DEFAULT_WAKE_TIME,
        help="time to wake a sleeping model, style sleep (default: %(default)s)",
    )
    lat.add_argument(
        "--not-ready-status",
        type=_status,
        default=503,
        help="status of not-ready answers, 503 or 429 (default: %(default)s)",
    )
    lat.add_argument(
        "--keep-alive",
        type=_seconds,
        default=DEFAULT_KEEP_ALIVE,
        help="idle time before a model unloads (default: %(default)s)",
    )
    lat.add_argument(
        "--ttft",
        type=_seconds,
        default=DEFAULT_TTFT,
        help="warm time to first token (default: %(default)s)",
    )
    lat.add_argument(
        "--token-time",
        type=_seconds,
        default=DEFAULT_TOKEN_TIME,
        help="time per output token (default: %(default)s)",
    )
    lat.add_argument(
        "--time-scale",
        type=_positive,
        default=1.0,
        help="multiply every duration (0.01 = 100x faster; default: %(default)s)",
    )
    lat.add_argument(
        "--max-tokens",
        type=_count,
        default=DEFAULT_MAX_TOKENS,
        help="tokens generated per completion (default: %(default)s)",
    )
    lat.add_argument("--seed", type=int, default=None, help="seed of the jitter and faults")
    mod = parser.add_argument_group("models")
    mod.add_argument(
        "--max-loaded-models",
        type=_count,
        default=None,
        help="keep at most N models loaded, evicting the least recently used",
    )
    mod.add_argument(
        "--known-models",
        default=None,
        metavar="NAME[,NAME...]",
        help="serve only these models; others get 404 (default: any name)",
    )
    mod.add_argument(
        "--model",
        action="append",
        type=_model_override,
        default=[],
        metavar="NAME:KEY=VALUE[,...]",
        dest="models",
        help="per-model override, e.g. gpt-4o:cold_start=10,rate_429=0.1",
    )
    mod.add_argument("--api-key", default=None, help="require this bearer token (else 401)")
    flt = parser.add_argument_group("fault injection (probability per request)")
    for name, what in (
        ("429", "429 Too Many Requests, with Retry-After"),
        ("500", "500 Internal Server Error"),
        ("503", "503 Service Unavailable"),
        ("hang", "hung requests (never answered until the server stops)"),
        ("disconnect", "connections closed mid-response"),
    ):
        flt.add_argument(f"--rate-{name}", type=_rate, default=0.0, help=f"rate of {what}")
    flt.add_argument(
        "--retry-after",
        type=_seconds,
        default=1.0,
        help="Retry-After of 429s, simulated seconds (default: %(default)s)",
    )


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """Build the :class:`SimConfig` described by parsed arguments."""
    names = set(SimConfig.option_names()) - {"known_models", "models", "hang_time"}
    options: dict[str, Any] = {name: getattr(args, name) for name in names if hasattr(args, name)}
    if args.known_models:
        options["known_models"] = [n.strip() for n in args.known_models.split(",") if n.strip()]
    options["models"] = dict(args.models)
    return SimConfig(**options)


def run(args: argparse.Namespace) -> int:
    """Serve the simulator described by ``args`` until interrupted; return an exit code."""
    try:
        config = config_from_args(args)
    except (TypeError, ValueError) as exc:
        print(f"llmwarm sim: error: {exc}", file=sys.stderr)
        return 2
    from llmwarm.sim._app import create_app
    from llmwarm.sim._server import StoppingServer, listen, uvicorn_config

    app = create_app(config)
    try:
        sock = listen(args.host, args.port)
    except OSError as exc:
        print(
            f"llmwarm sim: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    with sock:
        port = sock.getsockname()[1]
        root = f"http://{args.host}:{port}"
        print(
            f"llmwarm sim: serving on {root} (OpenAI base_url {root}/v1, Ollama host {root}); "
            f"cold start {config.cold_start:g}s ({config.cold_start_style}), "
            f"keep-alive {config.keep_alive:g}s, "
            f"time scale {config.time_scale:g}. Press Ctrl+C to stop.",
            flush=True,
        )
        # uvicorn stops gracefully on Ctrl+C, then re-raises it: that is a normal exit.
        with contextlib.suppress(KeyboardInterrupt):
            StoppingServer(uvicorn_config(app), app.state.sim).run(sockets=[sock])
    print("llmwarm sim: stopped.", flush=True)
    return 0
