"""``sys.stdout``/``sys.stderr`` that send Jupyter stream messages.

Text is batched: a write goes out at once when nothing was sent for ``FLUSH_INTERVAL``,
otherwise it waits for a newline-terminated batch, the next write past the interval, a sleep
(``time.sleep`` flushes first) or the end of the cell. A progress loop therefore shows progress
without one message per character.
"""

from __future__ import annotations

import io
import time

from . import bridge

FLUSH_INTERVAL = 0.05
MAX_BUFFER = 64 * 1024


class StreamToHost(io.TextIOBase):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._parts: list[str] = []
        self._size = 0
        self._last_flush = 0.0

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise io.UnsupportedOperation("the sandbox's output streams have no file descriptor")

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if not text:
            return 0
        self._parts.append(text)
        self._size += len(text)
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL or self._size >= MAX_BUFFER:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if not self._parts:
            return
        text = "".join(self._parts)
        self._parts.clear()
        self._size = 0
        self._last_flush = time.monotonic()
        bridge.send("stream", {"name": self.name, "text": text})


def flush_all(*streams: StreamToHost) -> None:
    for stream in streams:
        stream.flush()
