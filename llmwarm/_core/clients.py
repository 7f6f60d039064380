"""Duck-typed reads of an SDK client, shared by the decorators that look at one.

Nothing here imports an SDK or reads a credential: ``@pooled`` (pre-warming the client's
own server) and ``@traced`` (the server's address and port) both ask where a client points.
"""

from __future__ import annotations

from typing import Any

__all__ = ["base_url_of"]


def base_url_of(client: Any) -> Any:
    """Return the ``base_url`` a client points at, or ``None`` when it has none.

    OpenAI and httpx clients carry ``base_url`` themselves; an ``ollama.Client`` wraps an
    httpx client (``_client``) that carries it. The value is returned as the client holds it
    (an ``httpx.URL`` or a string), so callers read ``host``/``port`` or ``str()`` it.
    """
    url = getattr(client, "base_url", None)  # openai clients, httpx clients
    if url is None:
        inner = getattr(client, "_client", None)  # ollama.Client wraps an httpx client
        url = getattr(inner, "base_url", None)
    return url
