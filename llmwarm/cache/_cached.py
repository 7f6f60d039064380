"""``@cached``: results of LLM calls by a stable key, single-flight, stream replay.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import hmac
import inspect
import math
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, ParamSpec, TypeVar, cast, overload

import orjson

from llmwarm._core import (
    NO_ANSWER,
    Call,
    ConfigError,
    Flow,
    FunctionSpec,
    Offload,
    Policy,
    SlotKey,
    Stack,
    Stats,
    apply,
    check_keywords,
    is_stream,
    logger,
)
from llmwarm._core import call_stats as _stats
from llmwarm._core import observe_stream as _observe_stream
from llmwarm._core import runtime as _runtime
from llmwarm._core.call_stats import same_clock as _same_clock
from llmwarm.cache.allowlist import register_type
from llmwarm.cache.backends import (
    MISSING,
    Backend,
    CacheRowError,
    MemoryBackend,
    RedisBackend,
    SQLiteBackend,
    resolve_backend,
    row_secret,
)
from llmwarm.cache.codec import CodecError, CorruptCacheRow, RecordedStream
from llmwarm.cache.flight import Flights, Join, Lead, Outcome
from llmwarm.cache.keys import (
    CANONICAL_OPTIONS,
    KEY_FORMAT,
    Fingerprinter,
    Uncacheable,
    UnknownTenant,
    canonical_default,
    digest,
    instance_credentials,
    is_default_secret,
    secret_from,
    special_names,
)
from llmwarm.cache.stream import Recorder, replay

__all__ = [
    "DEFAULT_MAXSIZE",
    "DEFAULT_TTL",
    "BREAKER_BACKOFF",
    "BREAKER_MAX_BACKOFF",
    "Backend",
    "Breaker",
    "CacheHandle",
    "CacheRowError",
    "CacheStats",
    "CorruptCacheRow",
    "MemoryBackend",
    "RedisBackend",
    "SHARED_RESULT",
    "SQLiteBackend",
    "cached",
    "register_type",
]

if TYPE_CHECKING:
    from llmwarm._core.handles import Decorated
    from llmwarm._handles import StackedFunction
    from llmwarm.cache._handles import CacheDecorator, CachedFunction

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_TTL = 3600.0
"""Seconds a result stays cached when ``ttl`` is not given."""
DEFAULT_MAXSIZE = 1000
"""Entries the default memory back end keeps per function (least recently used go first)."""

_FAILURE_LOG_INTERVAL = 30.0
BREAKER_BACKOFF = 5.0
"""Seconds a failing back end is skipped after its first failure (doubles per failed probe)."""
BREAKER_MAX_BACKOFF = 60.0
"""The longest a failing back end is skipped before the next probe."""
_TAKEOVERS = 3  # a waiter retries at most this often after leaders were cancelled


CacheStats = Stats
"""Deprecated name of :class:`~llmwarm.Stats`, what ``fn.cache.stats`` returns since 0.2.

.. deprecated:: 0.2.0 read :class:`llmwarm.Stats` (``cache_hits``, ``cache_misses``, ...).
"""


_SINGLE = (None, 1)


def _default_cacheable(arguments: Mapping[str, Any]) -> bool:
    return arguments.get("n") in _SINGLE


class Breaker:
    """A circuit breaker over one back end: after a failure, skip it for a while.

    Closed (``backoff == 0``): every operation goes to the back end. After a failure it
    opens for ``backoff`` seconds (``base``, doubling per failed probe up to ``cap``);
    then one operation goes through as a probe while the others keep skipping. A probe
    that succeeds closes it. ``clock`` is monotonic seconds (tests pass a fake one).
    """

    __slots__ = ("_lock", "backoff", "base", "cap", "clock", "open_until", "probing")

    def __init__(
        self,
        *,
        base: float = BREAKER_BACKOFF,
        cap: float = BREAKER_MAX_BACKOFF,
        clock: Callable[[], float] = _runtime.monotonic,
    ) -> None:
        self.base = base
        self.cap = cap
        self.clock = clock
        self.backoff = 0.0
        self.open_until = 0.0
        self.probing = False
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """Return whether an operation may go to the back end now."""
        if not self.backoff:
            return True
        now = self.clock()
        with self._lock:
            if not self.backoff:
                return True
            if self.probing or now < self.open_until:
                return False
            self.probing = True
            return True

    def failure(self) -> None:
        """Open (or re-open, with a doubled backoff) after a failed operation."""
        with self._lock:
            self.backoff = self.base if not self.backoff else min(self.cap, self.backoff * 2)
            self.open_until = self.clock() + self.backoff
            self.probing = False

    def success(self) -> bool:
        """Close after a successful operation; return whether it was open."""
        if not self.backoff:
            return False
        with self._lock:
            was_open = bool(self.backoff)
            self.backoff = 0.0
            self.probing = False
            return was_open

    def reset(self) -> None:
        """Close, with a fresh lock (a forked child)."""
        self._lock = threading.Lock()
        self.backoff = 0.0
        self.probing = False


class CacheHandle:
    """``fn.cache``: clear, invalidate and read the stats of one cached function.

    .. versionadded:: 0.1.0
    """

    def __init__(self, policy: CachedPolicy) -> None:
        self._policy = policy

    @property
    def backend(self) -> Backend:
        """The back end this function's results live in."""
        return self._policy.backend

    @property
    def breaker(self) -> Breaker:
        """The circuit breaker over the back end (its ``clock`` can be replaced in tests)."""
        return self._policy.breaker

    @property
    def stats(self) -> Stats:
        """A snapshot of the counters: a :class:`~llmwarm.Stats` whose ``cache_*`` are filled.

        .. versionchanged:: 0.2.0 a :class:`~llmwarm.Stats` (``cache_hits``, ...), the shape of
           ``llmwarm.stats()``; the former names (``.hits``) still read it, deprecated.
        """
        p = self._policy
        return Stats(
            scope="cache",
            cache_hits=p.hits,
            cache_misses=p.misses,
            cache_shared=p.shared,
            cache_uncacheable=p.uncacheable,
            cache_errors=p.errors,
            cache_bypassed=p.bypassed,
            cache_corrupt_rows=p.corrupt_rows,
        )

    def info(self) -> dict[str, Any]:
        """Return the counters with the back end's name and the time to live."""
        p = self._policy
        return {
            "hits": p.hits,
            "misses": p.misses,
            "shared": p.shared,
            "uncacheable": p.uncacheable,
            "errors": p.errors,
            "bypassed": p.bypassed,
            "corrupt_rows": p.corrupt_rows,
            "backend": type(self._policy.backend).__name__,
            "ttl": self._policy.ttl,
            "function": self._policy.name,
        }

    def clear(self) -> None:
        """Remove every entry of this function (other functions sharing the back end stay)."""
        self._policy.backend.clear(self._policy.prefix)

    def invalidate(self, *args: Any, **kwargs: Any) -> None:
        """Remove the entry of one call, given as the function's arguments.

        The arguments are those ``@cached`` receives: a policy outside it that injects an
        argument (``@pooled`` above ``@cached``) is not applied here.
        """
        policy = self._policy
        policy.backend.delete(policy.key_of(args, kwargs, hashed=policy.hashed_keys))

    def close(self) -> None:
        """Close the back end's connection if it has one (SQLite); it reopens on next use.

        .. versionadded:: 0.2.0
        """
        close = getattr(self._policy.backend, "close", None)
        if callable(close):
            close()

    async def aclose(self) -> None:
        """Do :meth:`close` in a worker thread.

        .. versionadded:: 0.2.0
        """
        await asyncio.to_thread(self.close)

    async def aclear(self) -> None:
        """Do :meth:`clear` in a worker thread."""
        await asyncio.to_thread(self.clear)

    async def ainvalidate(self, *args: Any, **kwargs: Any) -> None:
        """Do :meth:`invalidate` in a worker thread."""
        await asyncio.to_thread(self.invalidate, *args, **kwargs)


SHARED_RESULT: SlotKey[bool] = SlotKey("cache.shared", False)
"""``@cached``'s slot in a call's record: True when the call got the result of another
caller's identical call in flight (single-flight) rather than making its own.

Read it with ``record.get(SHARED_RESULT)``.

.. versionadded:: 0.2.0
"""


class CachedPolicy(Policy):
    """The policy behind :func:`cached` (one per decorated function)."""

    handles: ClassVar[tuple[str, ...]] = ("cache", "cache_key")
    #: A hit is answered before any flow starts: no generator, no StopIteration.
    may_answer: ClassVar[bool] = True
    reads: ClassVar[frozenset[str]] = frozenset(
        {"started", "warmup"}
    )  # started: the hit's read time
    writes: ClassVar[frozenset[str]] = frozenset({"cache_hit"})

    def __init__(
        self,
        *,
        ttl: float | None,
        backend: Backend,
        key: Callable[[Mapping[str, Any]], Any] | None,
        cacheable: Callable[[Mapping[str, Any]], bool] | None,
        scope: Callable[[], Any] | None,
        secret: bytes,
    ) -> None:
        self.ttl = ttl
        self.backend = backend
        # A memory back end on the runtime clock reads entries at the call's start time,
        # while that clock is the records' own (asked per call: a test may install a fake
        # clock later).
        self._read_at: Callable[[str, float], Any] | None = (
            backend.get_at
            if type(backend) is MemoryBackend and backend.timer is _runtime.monotonic
            else None
        )
        self.key_function = key
        self.cacheable = cacheable or _default_cacheable
        self.scope = scope
        # scope= names the tenant: a client whose auth cannot be read may be cached then.
        self.fingerprinter = Fingerprinter(secret, strict=scope is None)
        self.breaker = Breaker()
        self.flights = Flights()
        self.cache = CacheHandle(self)
        self.name = "?"
        self.prefix = "?:"
        self.self_name: str | None = None
        self.spec: FunctionSpec | None = None
        #: The injected and credential names this function's arguments can hold.
        self.specials: tuple[str, ...] = special_names((), True)
        self.hits = self.misses = self.shared = self.uncacheable = self.errors = 0
        self.bypassed = self.corrupt_rows = 0
        self._corrupt_report = _Throttled()
        self._warned: set[str] = set()
        #: Whether the back end was passed in (and so may be shared by other functions).
        self.backend_shared = False
        self._failing = False
        self._failure_report = _Throttled()
        self._key_failure_report = _Throttled()
        #: ``(call, key)`` from :meth:`answer` to the flow the engine starts next for that
        #: call: the key built and read once already (``None``: arguments it refused and
        #: counted). One tuple, assigned at once: a flow takes it only for its own call
        #: (another thread's may replace it first, and then the flow builds its own).
        #: Not a record slot: that costs a dict per miss, measured on the refusing path.
        self._handed: tuple[Call, str | None] | None = None
        _track(self)

    def bind(self, spec: FunctionSpec) -> None:
        """Learn the function's name (part of every key) and whether it is a method."""
        module = getattr(spec.function, "__module__", None) or "?"
        # ":" appears in neither a module nor a qualname: "a.b"+"c" != "a"+"b.c".
        self.name = f"{module}:{spec.qualname}"
        self.prefix = self.name + ":"
        self.spec = spec
        first = next(iter(spec.parameters), None)
        self.self_name = first if first in ("self", "cls") else None
        var_keyword = spec.signature is None or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in spec.parameters.values()
        )
        self.specials = special_names(tuple(spec.parameters), var_keyword)
        if self.key_function is None and self.scope is None:
            self._warn_unkeyed_state(spec.qualname)

    def _warn_unkeyed_state(self, qualname: str) -> None:
        reasons = []
        if self.self_name == "self":
            reasons.append(
                "it is a method, and `self` is not in the key (only self.api_key and the "
                "credentials of the clients its attributes hold are)"
            )
        # Each closure decorated with the default back end gets a memory cache of its own;
        # only a back end passed in (shared by every closure made there) can mix them up.
        if self.backend_shared and ("<locals>" in qualname or "<lambda>" in qualname):
            reasons.append(
                "it is defined inside a function or is a lambda, and every closure made "
                "there shares one key namespace (their captured state is not in the key)"
            )
        if reasons:
            logger.warning(
                "llmwarm: @cached %s: %s; if its result depends on that state, pass "
                "key= or scope= to add it to the key",
                self.name,
                "; ".join(reasons),
            )

    def attach(self, stack: Stack) -> None:
        """Warn once when a policy outside this one injects arguments (``@pooled``).

        And read entries at the record's start time only while every policy outside this
        one passes a call on once, at once: under ``@routed`` a fallback reaches this
        flow seconds after the call started, and an entry that expired meanwhile must
        not be served.
        """
        for policy in stack.llmwarm_policies:
            if policy is self:
                break
            if not policy.passes_once:
                self._read_at = None  # for good: the policy may sit in this stack too
                break
        if "order" in self._warned:
            return
        for policy in stack.llmwarm_policies:
            if policy is self:
                return
            if policy.injects:
                self._warned.add("order")
                logger.warning(
                    "llmwarm: %s is outside @cached on %s: the arguments it injects are "
                    "not seen by cache.invalidate() and cache_key(); put @pooled inside "
                    "@cached (recommended order: @traced @cached @routed @warm @pooled)",
                    type(policy).__name__,
                    self.name,
                )
                return

    # ------------------------------------------------------------------------- keys

    @property
    def hashed_keys(self) -> bool:
        """Whether the back end is keyed by the hash (persistent back ends) or the JSON itself.

        The in-process memory back end skips the SHA-256: a dict hashes the canonical JSON
        string faster than SHA-256 hashes its bytes, on the hottest path of the library.
        """
        return not self.backend.inline

    def _build(self, arguments: Mapping[str, Any], instance: Any, hashed: bool = True) -> str:
        # Every cache hit runs this: the common case (a function, no key= or scope=) is
        # one lookup per credential name the function can receive and one orjson call.
        if instance is not None and self.self_name == "self":
            extra = instance_credentials(instance, strict=self.fingerprinter.strict)
            kept, fingerprint = self.fingerprinter.split(arguments, extra, self.specials)
        else:
            # Fingerprinter.split's common case, inline: no credential, nothing to strip.
            kept, fingerprint = arguments, None
            for name in self.specials:
                if arguments.get(name) is not None:
                    kept, fingerprint = self.fingerprinter.split(arguments, (), self.specials)
                    break
        material: Any = kept
        scope = None
        if self.key_function is not None or self.scope is not None:
            try:
                if self.key_function is not None:
                    if instance is not None and self.self_name is not None:
                        arguments = {self.self_name: instance, **arguments}
                    material = self.key_function(arguments)
                if self.scope is not None:
                    scope = self.scope()
            except Exception as exc:
                raise Uncacheable(f"key= or scope= raised {exc!r}") from exc
        try:  # canonical(), inline
            data = orjson.dumps(
                [KEY_FORMAT, self.name, material, scope, fingerprint],
                default=canonical_default,
                option=CANONICAL_OPTIONS,
            )
        except (TypeError, ValueError) as exc:  # orjson.JSONEncodeError is a TypeError
            raise Uncacheable(str(exc)) from None
        return self.prefix + (digest(data) if hashed else data.decode())

    def cache_key(self, *args: Any, **kwargs: Any) -> str:
        """Return the key of a call given as the function's arguments (methods: instance first).

        Raises :class:`ValueError` when the arguments cannot make a key.
        """
        return self.key_of(args, kwargs, hashed=True)

    def key_of(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, hashed: bool) -> str:
        """Return the key of a call given as arguments: hashed, or as the back end stores it."""
        assert self.spec is not None, "cache_key() of a policy that decorates nothing"
        instance = None
        if self.self_name is not None:
            if args:
                instance, args = args[0], args[1:]
            else:
                instance = kwargs.pop(self.self_name, None)
            arguments = self.spec.method_binder.bind(args, kwargs)
        else:
            arguments = self.spec.plain_binder.bind(args, kwargs)
        try:
            return self._build(arguments, instance, hashed)
        except Uncacheable as exc:
            raise ValueError(
                f"these arguments cannot make a cache key of {self.name}: {exc}"
            ) from None

    # ---------------------------------------------------------------------- the flow

    def answer(self, call: Call) -> Any:
        """Serve a hit from an inline back end without a flow; else let :meth:`flow` run.

        What the flow's first pass does on a hit, and no more: warm-up pings, back ends
        that are not inline, an open breaker and anything that waits are the flow's. On a
        miss (or arguments that cannot be cached) the key, already built and read, goes
        to the flow of the same call through :attr:`_handed`, so a miss builds it once.
        """
        record = call.record
        if record.warmup:
            return NO_ANSWER
        backend = self.backend
        if not backend.inline or self.breaker.backoff:
            return NO_ANSWER
        try:
            arguments = call.arguments
            key = self._build(arguments, call.instance, False)
            rule = self.cacheable
            if rule is _default_cacheable:
                cacheable = arguments.get("n") in _SINGLE
            else:
                cacheable = rule(arguments)
        except UnknownTenant as exc:
            self._refuse("the tenant", exc)
            record.cache_hit = False
            self._handed = (call, None)
            return NO_ANSWER
        except Exception as exc:
            self._refuse("arguments", exc)
            record.cache_hit = False
            self._handed = (call, None)
            return NO_ANSWER
        if not cacheable:
            self.uncacheable += 1
            record.cache_hit = False
            self._handed = (call, None)
            return NO_ANSWER
        try:
            read_at = self._read_at
            value = (
                read_at(key, record.started)
                if read_at is not None and _same_clock()
                else backend.get(key)
            )
        except Exception as exc:
            value = self._read_failed(exc)
        if value is MISSING:
            self._handed = (call, key)
            return NO_ANSWER
        self.hits += 1
        record.cache_hit = True
        if type(value) is RecordedStream:
            return replay(value, call.spec.is_async)
        return value

    def flow(self, call: Call) -> Flow:
        """Serve a hit, or make one upstream call per key at a time and store its result."""
        record = call.record
        if record.warmup:  # keep-warm pings neither read nor fill the cache
            return (yield call)
        # What answer() learnt of this very call: its key, read and missed (None: refused).
        # Another thread's call may have replaced it meanwhile: then build the key here.
        handed = self._handed
        if handed is not None and handed[0] is call:
            self._handed = None  # drop the call's reference; a later pass prepares afresh
            key = handed[1]
            if key is None:  # refused and counted by answer()
                return (yield call)
            read = False  # the first read was answer()'s
        else:
            try:
                arguments = call.arguments
                key = self._build(arguments, call.instance, not self.backend.inline)
                rule = self.cacheable
                # The default rule inline (a frame less per call): only n=1 is cached.
                if rule is _default_cacheable:
                    cacheable = arguments.get("n") in _SINGLE
                else:
                    cacheable = rule(arguments)
            except UnknownTenant as exc:
                self._refuse("the tenant", exc)
                record.cache_hit = False
                return (yield call)
            except Exception as exc:
                self._refuse("arguments", exc)
                record.cache_hit = False
                return (yield call)
            if not cacheable:
                self.uncacheable += 1
                record.cache_hit = False
                return (yield call)
            read = True
        backend = self.backend
        # A `while` rather than `for attempt in range(...)`: a hit here (a back end that is
        # not inline, or an open breaker's probe) costs no range object and no iterator.
        attempt = 0
        value: Any
        while True:
            if not read:
                value, read = MISSING, True
            elif backend.inline and not self.breaker.backoff:
                try:
                    read_at = self._read_at
                    value = (
                        read_at(key, record.started)
                        if read_at is not None and _same_clock()
                        else backend.get(key)
                    )
                except Exception as exc:
                    value = self._read_failed(exc)
            elif backend.inline:
                value = self._get(key)
            else:
                value = yield Offload(self._get, key)
            if value is not MISSING:
                self.hits += 1
                record.cache_hit = True
                if type(value) is RecordedStream:
                    return replay(value, call.spec.is_async)
                return value
            if attempt == 0:
                self.misses += 1
                record.cache_hit = False
            # Lead without a step when no one flies this key (no Join, no event, no future):
            # the common miss. Only a caller that finds a flight yields Join to wait.
            lead = self.flights.lead(key, call.spec.is_async)
            if lead is None:
                joined = yield Join(self.flights, key)
                if type(joined) is Lead:
                    lead = joined
            if lead is not None:
                # The leader's part, inline (a generator less per miss). Nothing may run
                # between leading and this `try`: its `finally` is what ends the flight.
                # If the leader is cancelled or interrupted, a waiter takes over ("retry").
                kind = "retry"
                shared: Any = None
                try:
                    try:
                        result = yield call
                    except Exception as exc:
                        kind, shared = "error", (exc, exc.__traceback__)
                        raise
                    if not _plain_types.get(type(result), False) and not _is_plain(result):
                        kind = "stream"  # not shared: each waiter makes its own call
                        return self._unplain(call, key, result)
                    if backend.inline:
                        self._set(key, result)
                    else:
                        yield Offload(self._set, key, result)
                    kind, shared = "value", result
                    return result
                finally:
                    self.flights.settle(lead, kind, shared)
            outcome = cast(Outcome, joined)
            if outcome.kind == "value":
                self.shared += 1
                record.set(SHARED_RESULT, True)
                return outcome.value
            if outcome.kind == "error":
                error, traceback = outcome.value
                raise _own_copy(error, traceback)
            if outcome.kind == "stream":
                break  # streams are not shared: this caller makes its own call
            attempt += 1  # the leader was cancelled or interrupted: take over, a few times
            if attempt > _TAKEOVERS:
                break
        return (yield from self._upstream(call, key))

    def _unplain(self, call: Call, key: str, result: Any) -> Any:
        """Record a stream result (stored at its end), or return an awaitable untouched."""
        if is_stream(result):
            return self._record(call, key, result)
        return self._awaitable(result)

    def _upstream(self, call: Call, key: str) -> Flow:
        result = yield call
        if not _plain_types.get(type(result), False) and not _is_plain(result):
            return self._unplain(call, key, result)
        if self.backend.inline:
            self._set(key, result)
        else:
            yield Offload(self._set, key, result)
        return result

    def _awaitable(self, result: Any) -> Any:
        # A sync `def` returning a coroutine (a thin wrapper over AsyncOpenAI): storing it
        # would hand every hit an already awaited coroutine. Return it untouched instead.
        self._refuse(
            "the awaitable result",
            TypeError(
                f"it returned {type(result).__qualname__}, which can be awaited only once; "
                "make the function `async def` (and await inside it) to cache its value"
            ),
        )
        return result

    def _record(self, call: Call, key: str, stream: Any) -> Any:
        def store(recorded: RecordedStream) -> None:
            if self.backend.inline:
                self._set(key, recorded)
                return
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._set(key, recorded)
            else:  # never block the event loop on a disk or network write
                loop.run_in_executor(None, self._set, key, recorded)

        return _observe_stream(stream, Recorder(store))

    # --------------------------------------------------------------- back-end access

    def _get(self, key: str) -> Any:
        if not self.breaker.allow():
            self.bypassed += 1
            return MISSING
        try:
            value = self.backend.get(key)
        except Exception as exc:
            return self._read_failed(exc)
        if self._failing or self.breaker.backoff:
            self._recovered()
        return value

    def _read_failed(self, exc: Exception) -> Any:
        """Count a failed read as a miss; what failed decides whether the breaker opens."""
        if isinstance(exc, CorruptCacheRow):  # deleted by the back end, which itself works
            return self._corrupt(exc)
        if isinstance(exc, (CacheRowError, CodecError)):  # one key's fault
            return self._failed("read", exc, trip=False)
        return self._failed("read", exc)

    def _set(self, key: str, value: Any) -> None:
        breaker = self.breaker
        # A closed breaker (every miss, nearly always) is asked no question: a call less.
        if breaker.backoff and not breaker.allow():
            self.bypassed += 1
            return
        try:
            self.backend.set(key, value, self.ttl)
        except CodecError as exc:
            self._refuse("result", exc)
            if self.breaker.backoff:  # the back end was never asked: let the next op probe
                self.breaker.probing = False
            return
        except CacheRowError as exc:
            self._failed("write", exc, trip=False)
            return
        except Exception as exc:
            self._failed("write", exc)
            return
        if self._failing or self.breaker.backoff:
            self._recovered()

    def _refuse(self, what: str, exc: BaseException) -> None:
        self.uncacheable += 1
        if what not in self._warned:
            self._warned.add(what)
            fix = ""
            if isinstance(exc, UnknownTenant):
                fix = (
                    "; llmwarm cannot tell which tenant the call is made as, so it does not "
                    "share answers: pass @cached(scope=...) returning the tenant (an account "
                    "or key id) to cache these calls"
                )
            logger.warning(
                "llmwarm: %s of %s cannot be cached (%s)%s; such calls go upstream uncached "
                "(logged once per function)",
                what,
                self.name,
                exc,
                fix,
            )

    def _corrupt(self, exc: BaseException) -> Any:
        """Count a refused row (already deleted); warn at most once per interval."""
        self.corrupt_rows += 1
        _stats.count_corrupt_row()
        if self._failing or self.breaker.backoff:  # the back end answered: it works
            self._recovered()
        unreported = self._corrupt_report.add(_runtime.monotonic())
        if unreported:
            logger.warning(
                "llmwarm: cache back end %s of %s held %d corrupt row(s), refused, deleted "
                "and treated as misses (last: %s). Someone without the cache secret wrote "
                "the store, or rows were altered or written by another version; at most "
                "one such line per %.0f s",
                type(self.backend).__name__,
                self.name,
                unreported,
                exc,
                _FAILURE_LOG_INTERVAL,
            )
        return MISSING

    def _failed(self, action: str, exc: BaseException, *, trip: bool = True) -> Any:
        """Count a back-end failure; ``trip``: a connection-level one, which opens the breaker.

        Without ``trip`` the fault concerned one key (the back end answered): only that
        call goes upstream, and a breaker that was open closes.
        """
        self.errors += 1
        if not trip:
            if self._failing or self.breaker.backoff:
                self._recovered()
            unreported = self._key_failure_report.add(_runtime.monotonic())
            if unreported:
                logger.warning(
                    "llmwarm: cache back end %s failed to %s one key of %s (%s: %s); that "
                    "call went upstream, other keys are served as usual (%d such failures "
                    "since the last report)",
                    type(self.backend).__name__,
                    action,
                    self.name,
                    type(exc).__name__,
                    exc,
                    unreported,
                )
            return MISSING
        self._failing = True
        self.breaker.failure()
        unreported = self._failure_report.add(_runtime.monotonic())
        if unreported:
            logger.warning(
                "llmwarm: cache back end %s failed to %s for %s (%s: %s); calls go upstream "
                "and skip it for %.0f s, then one call probes it (%d failures since the "
                "last report)",
                type(self.backend).__name__,
                action,
                self.name,
                type(exc).__name__,
                exc,
                self.breaker.backoff,
                unreported,
            )
        return MISSING

    def _recovered(self) -> None:
        self.breaker.success()
        self._failing = False
        self._failure_report.rearm()  # the next outage is reported at once
        logger.info(
            "llmwarm: cache back end %s of %s recovered", type(self.backend).__name__, self.name
        )

    def _after_fork(self) -> None:
        self.flights.reset()
        self.breaker.reset()
        after_fork = getattr(self.backend, "_after_fork", None)
        if after_fork is not None:
            after_fork()


#: Result types known to be neither a stream nor awaitable, the answer per type (a
#: type's dunder methods are fixed once it is in use): every miss asks, and
#: ``inspect.isawaitable`` on an SDK response costs about a quarter of a microsecond.
_plain_types: dict[type, bool] = {}
_MAX_TYPES = 4096


def _is_plain(result: Any) -> bool:
    """Whether ``result`` is a value to store as is: neither a stream nor an awaitable."""
    # A generator's awaitability is per object (a generator-based coroutine), but every
    # generator is a stream: the answer is still one per type.
    plain = not is_stream(result) and not inspect.isawaitable(result)
    kind = type(result)
    # A proxy (wrapt.ObjectProxy...) reports its target's __class__, and isinstance() (so
    # isawaitable) answers for the target: per object, not per type. Do not remember it.
    if len(_plain_types) < _MAX_TYPES and getattr(result, "__class__", kind) is kind:
        _plain_types[kind] = plain
    return plain


class _Throttled:
    """A count of like events reported at most once per interval, never a line per call."""

    __slots__ = ("last", "unreported")

    def __init__(self) -> None:
        self.last = -_FAILURE_LOG_INTERVAL
        self.unreported = 0

    def add(self, now: float) -> int:
        """Count one event; return how many to report now (0 while a report is too recent)."""
        self.unreported += 1
        if now - self.last < _FAILURE_LOG_INTERVAL:
            return 0
        self.last, count, self.unreported = now, self.unreported, 0
        return count

    def rearm(self) -> None:
        """Let the next event be reported at once."""
        self.last = -_FAILURE_LOG_INTERVAL


def _own_copy(error: BaseException, traceback: Any) -> BaseException:
    """Give a single-flight waiter its own exception, caused by the leader's.

    Each waiter re-raising the same object would mix tracebacks and ``__context__``
    across threads and tasks. A shallow copy keeps the type and attributes (``except``
    clauses and ``exc.response`` work); an exception that cannot be copied (its
    ``__init__`` wants other arguments than its ``args``) is shared as before.
    """
    try:
        own = copy.copy(error)
    except Exception:
        return error.with_traceback(traceback)
    if type(own) is not type(error):
        return error.with_traceback(traceback)
    own.__cause__ = error.with_traceback(traceback)
    own.__traceback__ = None
    return own


def _live() -> weakref.WeakSet[CachedPolicy]:
    """Every live cached function's policy: the runtime's ``"caches"`` part."""
    return _runtime.runtime.part(
        "caches", weakref.WeakSet, after_fork=_after_fork, reset=_reset_policies
    )


def _track(policy: CachedPolicy) -> None:
    _live().add(policy)


def _after_fork(policies: weakref.WeakSet[CachedPolicy]) -> weakref.WeakSet[CachedPolicy]:
    # The child's cached functions are the parent's objects: keep them, renewed.
    for policy in list(policies):
        policy._after_fork()
    return policies


def _reset_policies(policies: weakref.WeakSet[CachedPolicy]) -> weakref.WeakSet[CachedPolicy]:
    # Flights and breakers start afresh; the policies belong to functions that outlive it.
    for policy in list(policies):
        policy.flights.reset()
        policy.breaker.reset()
    return policies


def _reset() -> None:
    """Forget the flights of every live cached function (tests; see llmwarm.testing.reset)."""
    _reset_policies(_live())


def _seconds(ttl: Any) -> float | None:
    """Seconds, or ``None`` for no expiry (``None`` or ``inf``); NaN, 0 and below refused."""
    if ttl is None:
        return None
    given = ttl
    if isinstance(ttl, datetime.timedelta):
        ttl = ttl.total_seconds()
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
        raise ConfigError(
            f"cached(ttl={given!r})",
            "must be a positive number of seconds, a positive datetime.timedelta, or "
            "None / float('inf') for no expiry; NaN, zero and negative values are refused.",
        )
    return None if math.isinf(ttl) else float(ttl)


_secret: bytes | None = None


def _process_secret() -> bytes:
    global _secret
    if _secret is None:
        _secret = os.urandom(32)
    return _secret


def _check_callable(name: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"cached({name}={value!r}) must be a callable or None.")


@overload
def cached(ttl: Decorated[P, R], /) -> StackedFunction[P, R]: ...


@overload
def cached(ttl: Callable[P, R], /) -> CachedFunction[P, R]: ...


@overload
def cached(
    ttl: float | datetime.timedelta | None = DEFAULT_TTL,
    *,
    maxsize: int = DEFAULT_MAXSIZE,
    backend: Any = None,
    key: Callable[[Mapping[str, Any]], Any] | None = None,
    cacheable: Callable[[Mapping[str, Any]], bool] | None = None,
    scope: Callable[[], Any] | None = None,
    fingerprint_key: str | bytes | None = None,
) -> CacheDecorator: ...


@check_keywords
def cached(
    ttl: Any = DEFAULT_TTL,
    *,
    maxsize: int = DEFAULT_MAXSIZE,
    backend: Any = None,
    key: Callable[[Mapping[str, Any]], Any] | None = None,
    cacheable: Callable[[Mapping[str, Any]], bool] | None = None,
    scope: Callable[[], Any] | None = None,
    fingerprint_key: str | bytes | None = None,
) -> Any:
    """Cache the results of an LLM call (sync, async, methods, streams).

    ``ttl``: seconds or a ``timedelta`` (``None`` or ``float("inf")``: no expiry; NaN,
    zero and negative values raise :class:`~llmwarm.ConfigError`). ``maxsize``: entries of the
    default memory back end. ``backend``: ``None`` (memory), ``"sqlite:///path.db"``,
    ``"redis://host:port/db"``, a ``redis.Redis`` client, or a :class:`Backend`.
    ``key(arguments) -> object`` replaces the bound arguments as the key material (it gets
    the bound arguments, with the instance as ``self`` for methods); the function's name,
    ``scope()`` and the credential fingerprint are always added. ``cacheable(arguments)``
    refuses calls (default: all but ``n > 1``). ``scope()`` separates entries (a tenant).
    ``fingerprint_key``: the cache secret, keying credential fingerprints and signing the
    rows of persistent back ends built from a URL or a redis client; a
    ``SQLiteBackend``/``RedisBackend`` object signs with its own ``secret=``, and giving
    another ``fingerprint_key`` with it is a :class:`~llmwarm.ConfigError` (default
    ``$LLMWARM_CACHE_SECRET``;
    without one, a random per-process secret for the memory back end and a public
    constant, with a warning, for SQLite and Redis). See the security page of the docs.

    The decorated function gets ``.cache`` (:class:`CacheHandle`) and ``.cache_key()``.

    .. versionadded:: 0.1.0
    """
    if callable(ttl) and not isinstance(ttl, (int, float, datetime.timedelta)):
        return cached()(ttl)
    seconds = _seconds(ttl)
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
        raise ConfigError(
            f"cached(maxsize={maxsize!r})",
            "must be a positive int: the number of entries the memory back end keeps per function.",
        )
    _check_callable("key", key)
    _check_callable("cacheable", cacheable)
    _check_callable("scope", scope)
    if fingerprint_key is not None and not isinstance(fingerprint_key, (str, bytes)):
        raise TypeError(f"cached(fingerprint_key={fingerprint_key!r}) must be str, bytes or None.")
    if fingerprint_key is not None and not fingerprint_key:
        raise ValueError("cached(fingerprint_key='') must not be empty; omit it instead.")

    # Resolved now, so a bad back end fails at decoration; memory is one per function.
    shared = (
        None
        if backend is None
        else resolve_backend(backend, maxsize=maxsize, ttl=seconds, secret=fingerprint_key)
    )
    secret = secret_from(fingerprint_key)
    signs = row_secret(backend)
    if fingerprint_key is not None and signs is not None and not hmac.compare_digest(signs, secret):
        # A back-end object was built (and signs its rows) before this decorator saw the
        # key: its rows would verify under another secret -- the public default, maybe.
        raise ConfigError(
            f"cached(backend={backend!r}, fingerprint_key=...)",
            "does not sign the rows of a back-end object, which signs them with the secret "
            f"it was built with; pass secret= to the back end instead: "
            f"{type(backend).__name__}(..., secret=...) (or set LLMWARM_CACHE_SECRET).",
        )
    if is_default_secret(secret) and (shared is None or shared.inline):
        # Keys of an in-process back end never leave the process: fingerprint credentials
        # under a random per-process secret, so even cache_key() output cannot be used to
        # confirm a guessed API key.
        secret = _process_secret()

    def decorate(function: F) -> F:
        if isinstance(function, type):
            raise ConfigError(
                f"cached({function.__qualname__})",
                "decorates a class; @cached decorates a function or method. Decorate the "
                "method that calls the provider instead.",
            )
        policy = CachedPolicy(
            ttl=seconds,
            backend=shared if shared is not None else MemoryBackend(maxsize=maxsize, ttl=seconds),
            key=key,
            cacheable=cacheable,
            scope=scope,
            secret=secret,
        )
        policy.backend_shared = shared is not None
        return apply(function, policy)

    return decorate
