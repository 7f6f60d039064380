"""``llmwarm probe``: measure an endpoint's cold start, warm latency and unload window.

The probe talks to an OpenAI-compatible server or to Ollama with ``httpx`` alone (no SDK):

1. one first call (cold if the model was idle): its latency;
2. ``--warm-calls`` streamed calls back to back: time to first token and total, whose
   median is the warm reference;
3. with ``--sweep``, idle gaps of growing length: after each gap one call, classified cold
   when its latency is above the threshold between the warm median and the first call. The
   unload window lies between the longest warm gap and the shortest cold gap (a cold
   verdict is confirmed by repeating its gap); a few bisection steps narrow it.

It recognises how the endpoint cold-starts (``cold_start_style``): a slow first answer
(``blocking``), ``503`` "currently loading" with ``estimated_time`` (``loading-503``),
``503``/``429`` "not ready" with ``Retry-After`` (``not-ready``) - waiting as advised and
calling again, as ``@warm`` does - or a vLLM server in sleep mode (``sleep``: it answers
``GET /is_sleeping``). It ends with a recommendation for ``@warm``: an interval of about
80% of the window (rounded down to a friendly number), the keep-alive, the pings a day and
their cost, and the ping adapter that suits the endpoint.
The API key is read from an environment variable (``--api-key-env``), never the command
line. ``--time-scale`` runs against a simulator whose clock is compressed: gaps are
multiplied by it for the real sleeps and every figure is reported in the endpoint's seconds.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from llmwarm._core import loading as _loading

__all__ = [
    "DEFAULT_GAPS",
    "DEFAULT_PRICE_PER_MTOK",
    "DEFAULT_REFINE",
    "DEFAULT_WARM_CALLS",
    "Observation",
    "ProbeError",
    "ProbeReport",
    "Recommendation",
    "add_arguments",
    "friendly_floor",
    "probe",
    "run",
]

DEFAULT_GAPS: tuple[float, ...] = (30.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0)
"""Idle gaps of the sweep (endpoint seconds): geometric, from 30 s to 32 min."""
DEFAULT_WARM_CALLS = 5
"""Calls made back to back to measure the warm latency."""
DEFAULT_REFINE = 2
"""Bisection steps between the longest warm gap and the shortest cold gap."""
DEFAULT_PRICE_PER_MTOK = 0.25
"""Dollars per million input tokens, for the cost of the pings."""
DEFAULT_TOKENS_PER_PING = 1
"""Input tokens of one keep-warm ping."""
DEFAULT_TIMEOUT = 120.0
"""Seconds (real) one call may take, a cold start included."""
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
"""The environment variable holding the API key."""
ASSUMED_WINDOW = 300.0
"""The unload window assumed without ``--sweep`` (Ollama's default keep-alive)."""
DEFAULT_BASE_URLS = {"openai": "https://api.openai.com/v1", "ollama": "http://localhost:11434"}

_SMALL_FRIENDLY = (1, 2, 5, 10, 15, 20, 30, 45)


class ProbeError(Exception):
    """A failure the probe reports in one line (exit code 2): unreachable, 401, 404...

    .. versionadded:: 0.1.0
    """


@dataclass(frozen=True)
class Observation:
    """One call of the probe, in the endpoint's seconds.

    .. versionadded:: 0.1.0
    """

    gap_s: float | None
    """Idle seconds before the call (``None`` for the first and the warm calls)."""
    ttft_s: float
    """Seconds to the first streamed chunk."""
    total_s: float
    """Seconds to the end of the response."""
    cold: bool | None = None
    """Whether the call was classified cold (``None`` before the threshold is known)."""


@dataclass(frozen=True)
class Recommendation:
    """What to configure ``@warm`` with, and what the pings cost.

    .. versionadded:: 0.1.0
    """

    interval_s: float
    """Seconds between pings: about 80% of the window, rounded down."""
    keep_alive_s: float
    """The keep-alive to give ``@warm`` (the measured or assumed window, rounded down)."""
    basis: str
    """``measured`` (a sweep found the window), ``lower-bound`` or ``assumed``."""
    pings_per_day: float
    tokens_per_ping: int
    price_per_mtok: float
    cost_per_day_usd: float


@dataclass
class ProbeReport:
    """Everything one probe measured, in the endpoint's seconds (``to_json`` for ``--json``).

    .. versionadded:: 0.1.0
    """

    kind: str
    base_url: str
    model: str
    time_scale: float
    first: Observation
    warm: list[Observation]
    threshold_s: float
    sweep: list[Observation] = field(default_factory=list)
    longest_warm_gap_s: float | None = None
    shortest_cold_gap_s: float | None = None
    window_s: float | None = None
    recommendation: Recommendation | None = None
    cold_start_style: str | None = None
    """``blocking``, ``loading-503``, ``not-ready`` or ``sleep``; None if never seen cold."""
    not_ready_answers: int = 0
    """How many "loading"/"not ready" answers the probe waited out."""
    advised_wait_s: float | None = None
    """The wait the first such answer advised (endpoint seconds), if it said."""

    @property
    def ping_adapter(self) -> str:
        """The ``llmwarm.pings`` adapter that suits this endpoint."""
        if self.cold_start_style == "sleep":
            return "pings.vllm_wake_up(base_url, ping=pings.openai_chat(client))"
        if self.kind == "ollama":
            return "pings.ollama_preload(base_url)"
        return "pings.openai_chat(client)"

    @property
    def warm_ttft_p50_s(self) -> float:
        """Median time to first token of the warm calls."""
        return statistics.median(o.ttft_s for o in self.warm)

    @property
    def warm_total_p50_s(self) -> float:
        """Median total latency of the warm calls."""
        return statistics.median(o.total_s for o in self.warm)

    def to_json(self) -> dict[str, Any]:
        """Return the report as one JSON-ready object."""
        return {
            "kind": self.kind,
            "base_url": self.base_url,
            "model": self.model,
            "time_scale": self.time_scale,
            "first_call": {"ttft_s": self.first.ttft_s, "total_s": self.first.total_s},
            "warm": {
                "calls": len(self.warm),
                "ttft_p50_s": self.warm_ttft_p50_s,
                "total_p50_s": self.warm_total_p50_s,
                "total_max_s": max(o.total_s for o in self.warm),
            },
            "threshold_s": self.threshold_s,
            "sweep": {
                "observations": [asdict(o) for o in self.sweep],
                "longest_warm_gap_s": self.longest_warm_gap_s,
                "shortest_cold_gap_s": self.shortest_cold_gap_s,
                "window_s": self.window_s,
            }
            if self.sweep
            else None,
            "recommendation": asdict(self.recommendation) if self.recommendation else None,
            "cold_start_style": self.cold_start_style,
            "not_ready_answers": self.not_ready_answers,
            "advised_wait_s": self.advised_wait_s,
            "ping_adapter": self.ping_adapter,
        }


def friendly_floor(seconds: float) -> float:
    """Round ``seconds`` down to a friendly duration, at least 1 s.

    Below a minute: 1, 2, 5, 10, 15, 20, 30 or 45 s; then whole half-minutes up to
    10 minutes, whole minutes up to an hour, 5 minutes up to 3 hours, and whole hours.

    .. versionadded:: 0.1.0
    """
    if seconds < 60:
        return float(max([1, *(v for v in _SMALL_FRIENDLY if v <= seconds)]))
    for limit, step in ((600, 30), (3600, 60), (10800, 300)):
        if seconds < limit:
            return float(seconds // step * step)
    return float(seconds // 3600 * 3600)


# ------------------------------------------------------------------------------ endpoint


class _Endpoint:
    """One streamed chat call against an OpenAI-compatible server or Ollama."""

    def __init__(
        self,
        client: httpx.Client,
        kind: str,
        base_url: str,
        model: str,
        api_key: str | None,
        api_key_env: str,
        time_scale: float,
        timeout: float = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.sleep = sleep
        self.not_ready: list[_loading.NotReady] = []
        self.kind = kind
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.api_key_env = api_key_env
        self.time_scale = time_scale

    def request(self) -> tuple[str, dict[str, Any]]:
        messages = [{"role": "user", "content": "ping"}]
        if self.kind == "ollama":
            body: dict[str, Any] = {
                "model": self.model,
                "messages": messages,
                "stream": True,
                "options": {"num_predict": 1},
            }
            return f"{self.base_url}/api/chat", body
        body = {"model": self.model, "messages": messages, "max_tokens": 1, "stream": True}
        return f"{self.base_url}/chat/completions", body

    def call(self, gap: float | None = None) -> Observation:
        """Make one streamed call; return its latencies in endpoint seconds.

        A "loading"/"not ready" answer is waited out as it advises (else polled, 1 s,
        2 s, 4 s... up to 15 s) and the call made again: its latency includes the wait.
        """
        url, body = self.request()
        start = time.perf_counter()
        for attempt in itertools.count():
            ttft, seen = self.once(url, body, start)
            if seen is None:
                break
            self.not_ready.append(seen)
            delay = seen.retry_in if seen.retry_in is not None else min(15.0, 2.0**attempt)
            if time.perf_counter() - start + delay > self.timeout:
                raise ProbeError(
                    f"{url} still answers that {self.model!r} is not ready ({seen.kind}) "
                    f"after {time.perf_counter() - start:.0f} s (--timeout {self.timeout:g})."
                )
            self.sleep(delay)
        total = time.perf_counter() - start
        scale = self.time_scale
        return Observation(gap, (ttft if ttft is not None else total) / scale, total / scale)

    def once(
        self, url: str, body: dict[str, Any], start: float
    ) -> tuple[float | None, _loading.NotReady | None]:
        """Make one request: the time to its first line, or the "not ready" it answered."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        ttft: float | None = None
        try:
            with self.client.stream("POST", url, json=body, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    seen = _loading.classify(response.status_code, response.headers, response.text)
                    if seen is not None:
                        return None, seen
                    raise self.http_error(response, url)
                for line in response.iter_lines():
                    if ttft is None and line.strip():
                        ttft = time.perf_counter() - start
        except httpx.TimeoutException as exc:
            raise ProbeError(f"{url} did not answer in time ({type(exc).__name__}).") from None
        except httpx.TransportError as exc:
            raise ProbeError(
                f"Cannot reach {self.base_url}: {exc or type(exc).__name__}."
            ) from None
        return ttft, None

    def http_error(self, response: httpx.Response, url: str) -> ProbeError:
        detail = _error_message(response)
        status = response.status_code
        if status == 401 or status == 403:
            if self.api_key is None:
                hint = f"the environment variable {self.api_key_env} is not set"
            else:
                hint = f"check the key in the environment variable {self.api_key_env}"
            return ProbeError(f"{url} refused the API key ({status}): {hint}.")
        if status == 404:
            return ProbeError(
                f"{url} answered 404: the model {self.model!r} is unknown there, or the base "
                f"URL is wrong ({detail})."
            )
        return ProbeError(f"{url} answered HTTP {status}: {detail}.")


def _error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:200]
    return str(error or data)[:200]


def _sleep_mode(client: httpx.Client, base_url: str, api_key: str | None) -> bool:
    """Whether the server answers vLLM's ``GET /is_sleeping`` (sleep mode is on)."""
    root = base_url.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = client.get(f"{root}/is_sleeping", headers=headers)
        return response.status_code == 200 and "is_sleeping" in response.json()
    except (httpx.TransportError, ValueError, TypeError):
        return False


def _detect(client: httpx.Client, base_url: str, api_key: str | None) -> str:
    """Return ``ollama`` when ``GET /api/tags`` answers with a model list, else ``openai``."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = client.get(f"{base_url.rstrip('/')}/api/tags", headers=headers)
    except httpx.TransportError as exc:
        raise ProbeError(f"Cannot reach {base_url}: {exc or type(exc).__name__}.") from None
    if response.status_code == 200:
        try:
            if "models" in response.json():
                return "ollama"
        except ValueError:
            pass
    return "openai"


# ---------------------------------------------------------------------------------- probe


def probe(
    *,
    model: str,
    kind: str = "auto",
    base_url: str | None = None,
    api_key_env: str = DEFAULT_API_KEY_ENV,
    warm_calls: int = DEFAULT_WARM_CALLS,
    sweep: bool = False,
    gaps: Sequence[float] = DEFAULT_GAPS,
    refine: int = DEFAULT_REFINE,
    time_scale: float = 1.0,
    price_per_mtok: float = DEFAULT_PRICE_PER_MTOK,
    tokens_per_ping: int = DEFAULT_TOKENS_PER_PING,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ProbeReport:
    """Measure an endpoint and recommend a ``@warm`` set-up; raise :class:`ProbeError`.

    ``gaps`` are in the endpoint's seconds; each is slept for ``gap * time_scale`` real
    seconds. The sweep stops at the first cold gap, then bisects ``refine`` times.

    .. versionadded:: 0.1.0
    """
    if kind not in ("auto", "openai", "ollama"):
        raise ProbeError(f"--kind must be auto, openai or ollama, got {kind!r}.")
    if warm_calls < 1:
        raise ProbeError(f"--warm-calls must be >= 1, got {warm_calls}.")
    if not time_scale > 0:
        raise ProbeError(f"--time-scale must be > 0, got {time_scale}.")
    if any(not g > 0 for g in gaps) or not gaps:
        raise ProbeError(f"--gaps must be positive seconds, got {list(gaps)}.")
    say = progress or (lambda message: None)
    api_key = os.environ.get(api_key_env) or None
    url = base_url or DEFAULT_BASE_URLS["ollama" if kind == "ollama" else "openai"]
    with httpx.Client(timeout=timeout) as client:
        if kind == "auto":
            kind = _detect(client, url, api_key)
        endpoint = _Endpoint(
            client, kind, url, model, api_key, api_key_env, time_scale, timeout, sleep
        )
        sleep_mode = _sleep_mode(client, url, api_key)
        first = endpoint.call()
        say(f"first call: {first.total_s:.2f} s")
        warm = [endpoint.call() for _ in range(warm_calls)]
        warm_p50 = statistics.median(o.total_s for o in warm)
        say(f"warm calls: median {warm_p50:.2f} s over {warm_calls}")
        # Cold when clearly above the warm median: the geometric middle between the warm
        # median and a cold first call, or 3x the warm median when the first call was warm.
        if first.total_s > 3 * warm_p50:
            threshold = math.sqrt(first.total_s * warm_p50)
        else:
            threshold = 3 * warm_p50
        report = ProbeReport(kind, url, model, time_scale, first, warm, threshold)
        if sweep:
            _sweep(endpoint, report, sorted(gaps), refine, say, sleep)
        _note_style(report, endpoint, sleep_mode, say)
    report.recommendation = _recommend(report, price_per_mtok, tokens_per_ping)
    return report


def _note_style(
    report: ProbeReport, endpoint: _Endpoint, sleep_mode: bool, say: Callable[[str], None]
) -> None:
    """Name how the endpoint cold-starts, from what the calls met."""
    seen = endpoint.not_ready
    report.not_ready_answers = len(seen)
    if seen:
        report.cold_start_style = seen[0].kind
        advised = seen[0].retry_in
        report.advised_wait_s = None if advised is None else advised / endpoint.time_scale
    elif sleep_mode:
        report.cold_start_style = "sleep"
    elif report.first.total_s > report.threshold_s or any(o.cold for o in report.sweep):
        report.cold_start_style = "blocking"
    if report.cold_start_style is not None:
        say(f"cold-start style: {report.cold_start_style}")


def _sweep(
    endpoint: _Endpoint,
    report: ProbeReport,
    gaps: list[float],
    refine: int,
    say: Callable[[str], None],
    sleep: Callable[[float], None],
) -> None:
    def once(gap: float) -> bool:
        sleep(gap * endpoint.time_scale)
        seen = endpoint.call(gap)
        cold = seen.total_s > report.threshold_s
        report.sweep.append(Observation(gap, seen.ttft_s, seen.total_s, cold))
        say(f"gap {gap:g} s: {'cold' if cold else 'warm'} ({seen.total_s:.2f} s)")
        return cold

    def trial(gap: float) -> bool:
        # Noise (a busy host, a slow network) only ever makes a warm call slower, so a
        # cold verdict is confirmed by the same gap once more; a warm one stands.
        return once(gap) and once(gap)

    warm_gap = 0.0
    cold_gap: float | None = None
    for gap in gaps:
        if trial(gap):
            cold_gap = gap
            break
        warm_gap = gap
    if cold_gap is not None:
        for _ in range(refine):
            middle = (warm_gap + cold_gap) / 2
            if trial(middle):
                cold_gap = middle
            else:
                warm_gap = middle
        report.window_s = (warm_gap + cold_gap) / 2
    report.longest_warm_gap_s = warm_gap or None
    report.shortest_cold_gap_s = cold_gap


_STYLE_WORDS = {
    "blocking": "the first call waits while the model loads",
    "loading-503": "503 'currently loading' with estimated_time while it loads",
    "not-ready": "503/429 'not ready' with Retry-After until a replica is up",
    "sleep": "vLLM sleep mode (GET /is_sleeping answers): wakes in seconds",
}

SAFETY = 0.8
"""The recommended ``@warm`` interval is this fraction of the unload window."""


def _recommend(report: ProbeReport, price: float, tokens: int) -> Recommendation:
    if report.window_s is not None:
        window, basis = report.window_s, "measured"
    elif report.longest_warm_gap_s is not None:
        window, basis = report.longest_warm_gap_s, "lower-bound"
    else:
        window, basis = ASSUMED_WINDOW, "assumed"
    interval = friendly_floor(SAFETY * window)
    keep_alive = friendly_floor(window)
    if keep_alive <= interval:  # a short window: both rounded down to the same figure
        keep_alive = window  # keep the measured window, unrounded
        interval = min(interval, SAFETY * window)
        if interval >= keep_alive:
            interval = SAFETY * window
    pings = 86400 / interval
    return Recommendation(
        interval_s=interval,
        keep_alive_s=keep_alive,
        basis=basis,
        pings_per_day=pings,
        tokens_per_ping=tokens,
        price_per_mtok=price,
        cost_per_day_usd=pings * tokens * price / 1e6,
    )


# -------------------------------------------------------------------------------- output


def format_report(report: ProbeReport) -> str:
    """Return the human-readable report."""
    lines = [
        f"llmwarm probe: {report.model} at {report.base_url} ({report.kind})",
        f"  first call      {report.first.total_s:8.2f} s "
        f"(first token {report.first.ttft_s:.2f} s)",
        f"  warm calls      {report.warm_total_p50_s:8.2f} s median total, "
        f"{report.warm_ttft_p50_s:.2f} s to first token ({len(report.warm)} calls)",
        f"  cold threshold  {report.threshold_s:8.2f} s",
    ]
    if report.sweep:
        lines.append("  sweep (idle gap -> latency):")
        for o in report.sweep:
            state = "cold" if o.cold else "warm"
            lines.append(f"    {o.gap_s or 0:8.0f} s -> {o.total_s:6.2f} s  {state}")
        if report.window_s is not None:
            lines.append(
                f"  unload window   ~{report.window_s:.0f} s (warm after "
                f"{report.longest_warm_gap_s or 0:.0f} s, cold after "
                f"{report.shortest_cold_gap_s:.0f} s)"
            )
        else:
            lines.append(
                f"  unload window   not reached: warm after every gap, up to "
                f"{report.longest_warm_gap_s or 0:.0f} s"
            )
    style = report.cold_start_style
    if style is not None:
        lines.append(f"  cold-start style {style}: {_STYLE_WORDS[style]}")
        if report.not_ready_answers:
            advised = report.advised_wait_s
            said = f", first advised {advised:.1f} s" if advised is not None else ""
            lines.append(
                f"  not ready       {report.not_ready_answers} answer(s) waited out{said}; "
                "@warm waits them out too"
            )
    rec = report.recommendation
    if rec is not None:
        why = {
            "measured": "from the measured window",
            "lower-bound": "from the longest gap that stayed warm (a lower bound)",
            "assumed": f"assuming a {ASSUMED_WINDOW:.0f} s window: run with --sweep to measure",
        }[rec.basis]
        lines += [
            f"Recommendation ({why}):",
            f'  @warm("{report.model}", interval={rec.interval_s:.0f}, '
            f"keep_alive={rec.keep_alive_s:.0f})",
            f"  {rec.pings_per_day:.0f} pings/day x {rec.tokens_per_ping} token(s) at "
            f"${rec.price_per_mtok:g}/M tokens = ${rec.cost_per_day_usd:.6f}/day",
            f"  ping adapter: {report.ping_adapter}",
        ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- CLI


def _gaps(text: str) -> list[float]:
    try:
        gaps = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--gaps takes seconds separated by commas (30,60,120), got {text!r}"
        ) from None
    if not gaps or any(not g > 0 for g in gaps):
        raise argparse.ArgumentTypeError(f"--gaps must be positive seconds, got {text!r}")
    return gaps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``llmwarm probe`` options to ``parser``."""
    parser.add_argument("--model", required=True, help="the model to probe")
    parser.add_argument("--kind", choices=("auto", "openai", "ollama"), default="auto")
    parser.add_argument(
        "--base-url",
        help="the API root: https://api.openai.com/v1 (openai), http://localhost:11434 (ollama)",
    )
    parser.add_argument(
        "--api-key-env",
        default=DEFAULT_API_KEY_ENV,
        help="the environment variable holding the API key (default: %(default)s)",
    )
    parser.add_argument("--warm-calls", type=int, default=DEFAULT_WARM_CALLS)
    parser.add_argument("--sweep", action="store_true", help="find the unload window")
    parser.add_argument(
        "--gaps", type=_gaps, default=list(DEFAULT_GAPS), help="idle gaps in seconds (30,60,...)"
    )
    parser.add_argument("--refine", type=int, default=DEFAULT_REFINE, help="bisection steps")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="the simulator's clock compression"
    )
    parser.add_argument("--price-per-mtok", type=float, default=DEFAULT_PRICE_PER_MTOK)
    parser.add_argument("--tokens-per-ping", type=int, default=DEFAULT_TOKENS_PER_PING)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    """Run ``llmwarm probe``: 0 on success, 2 with a one-line error on standard error."""
    progress = None if args.json else (lambda message: print(message, file=sys.stderr))
    try:
        report = probe(
            model=args.model,
            kind=args.kind,
            base_url=args.base_url,
            api_key_env=args.api_key_env,
            warm_calls=args.warm_calls,
            sweep=args.sweep,
            gaps=args.gaps,
            refine=args.refine,
            time_scale=args.time_scale,
            price_per_mtok=args.price_per_mtok,
            tokens_per_ping=args.tokens_per_ping,
            timeout=args.timeout,
            progress=progress,
        )
    except ProbeError as exc:
        print(f"llmwarm probe: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(format_report(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m llmwarm.tools.probe``."""
    parser = argparse.ArgumentParser(
        prog="llmwarm probe", description="Measure an endpoint's cold start and unload window."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
