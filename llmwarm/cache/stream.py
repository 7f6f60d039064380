"""Streams: record the chunks of a live stream, and replay recorded chunks on a hit.

A returned stream goes to the caller as it arrives (through ``observe_stream``), its
chunks are kept, and the recording is stored only when the stream was read to the end
without error. A hit returns a replay: an iterator (async on the async path) that yields
the same chunk objects in the same order and, like the SDKs' streams, can be closed and
used as a context manager.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmwarm.cache.codec import RecordedStream

__all__ = ["AsyncReplay", "Recorder", "Replay", "replay"]


class Recorder:
    """A stream observer that hands the chunks to ``store`` once the stream completed."""

    __slots__ = ("chunks", "store")

    def __init__(self, store: Callable[[RecordedStream], None]) -> None:
        self.chunks: list[Any] = []
        self.store = store

    def on_chunk(self, chunk: Any) -> None:
        """Keep one chunk."""
        self.chunks.append(chunk)

    def on_end(self, error: BaseException | None, completed: bool) -> None:
        """Store the recording if the stream was read to its end."""
        chunks, self.chunks = self.chunks, []
        if completed and error is None:
            self.store(RecordedStream(tuple(chunks)))


class Replay:
    """A recorded stream played back: iterate it, ``close()`` it, or use it in ``with``."""

    __slots__ = ("_chunks", "_index")

    def __init__(self, chunks: tuple[Any, ...]) -> None:
        self._chunks = chunks
        self._index = 0

    def __iter__(self) -> Replay:
        return self

    def __next__(self) -> Any:
        if self._index >= len(self._chunks):
            raise StopIteration
        chunk = self._chunks[self._index]
        self._index += 1
        return chunk

    def close(self) -> None:
        """Stop the replay; later iteration yields nothing."""
        self._index = len(self._chunks)

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncReplay:
    """A recorded stream played back asynchronously (``async for``, ``async with``)."""

    __slots__ = ("_chunks", "_index")

    def __init__(self, chunks: tuple[Any, ...]) -> None:
        self._chunks = chunks
        self._index = 0

    def __aiter__(self) -> AsyncReplay:
        return self

    async def __anext__(self) -> Any:
        if self._index >= len(self._chunks):
            raise StopAsyncIteration
        chunk = self._chunks[self._index]
        self._index += 1
        return chunk

    async def close(self) -> None:
        """Stop the replay (OpenAI's ``AsyncStream`` spells it ``close``)."""
        self._index = len(self._chunks)

    async def aclose(self) -> None:
        """Stop the replay (async generators spell it ``aclose``)."""
        self._index = len(self._chunks)

    async def __aenter__(self) -> AsyncReplay:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def replay(recorded: RecordedStream, is_async: bool) -> Replay | AsyncReplay:
    """Return a fresh replay of ``recorded`` for the sync or the async path."""
    return AsyncReplay(recorded.chunks) if is_async else Replay(recorded.chunks)
