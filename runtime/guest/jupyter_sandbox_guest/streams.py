"""``sys.stdout``/``sys.stderr`` that send Jupyter stream messages.

Output is line-oriented and batched. The guest has no threads, so nothing can flush on a timer:
text is sent only from a write, a sleep (``time.sleep`` flushes first), a display, an input
request or the end of the turn. A write sends

* every complete line buffered so far, when ``FLUSH_INTERVAL`` has passed since the last
  message (so ``print('hi')`` arrives as one ``'hi\\n'`` and a fast loop of prints as a few
  large messages), keeping an unfinished line for later;
* before adding its text, the complete lines buffered, or if there are none the unfinished
  one, when the oldest of them has waited ``FLUSH_INTERVAL`` (a progress bar that redraws
  with ``\\r`` shows each step as the next one starts);
* everything, when more than ``MAX_BUFFER`` characters are waiting.

Before a stream sends, its sibling sends what it holds, so stdout and stderr keep their order.
"""

from __future__ import annotations

import codecs
import io
import time
from collections.abc import Callable
from typing import Any

from . import bridge

FLUSH_INTERVAL = 0.05
MAX_BUFFER = 64 * 1024

_FILENOS = {"stdout": 1, "stderr": 2}


class StreamToHost(io.TextIOBase):
    """A text stream whose output becomes ``stream`` messages named ``name``."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.sibling: StreamToHost | None = None
        self._parts: list[str] = []
        self._size = 0
        self._last_send = 0.0
        self._first_write = 0.0
        self._buffer = _BinaryWriter(self)

    # -- the io interface -------------------------------------------------------------------
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "strict"

    @property
    def line_buffering(self) -> bool:
        return False

    @property
    def buffer(self) -> io.RawIOBase:
        """Bytes written here are decoded as UTF-8 and join the text stream."""
        return self._buffer

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        """The guest's fd 1/2; the host turns raw writes to them into stream messages too
        (they bypass this stream's batching, as with ipykernel)."""
        return _FILENOS[self.name]

    def write(self, text: str) -> int:
        global _busy
        if _busy:  # a tick's flush interrupted this write: just buffer
            self._parts.append(text)
            self._size += len(text)
            return len(text)
        _busy = True
        try:
            return self._write(text)
        finally:
            _busy = False

    def _write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if not text:
            return 0
        sibling = self.sibling
        if sibling is not None and sibling._parts:
            sibling.flush()
        now = time.monotonic()
        if self._parts and now - self._first_write >= FLUSH_INTERVAL:
            self._send_complete_lines()  # what waited that long goes before the new text
        if not self._parts:
            self._first_write = now
        self._parts.append(text)
        self._size += len(text)
        if self._size >= MAX_BUFFER:
            self.flush()
        elif "\n" in text and now - self._last_send >= FLUSH_INTERVAL:
            self._send_complete_lines()
        return len(text)

    def flush(self) -> None:
        """Send everything buffered."""
        global _busy
        outer, _busy = _busy, True  # a tick arriving meanwhile must not send this text twice
        try:
            if not self._parts:
                return
            text = "".join(self._parts)
            self._parts.clear()
            self._size = 0
            self._send(text)
        finally:
            _busy = outer

    # -- internals --------------------------------------------------------------------------
    def _send_complete_lines(self) -> None:
        """Send up to the last newline, or everything if no line is complete."""
        text = "".join(self._parts)
        cut = text.rfind("\n") + 1 or len(text)
        rest = text[cut:]
        self._parts[:] = [rest] if rest else []
        self._size = len(rest)
        self._send(text[:cut])

    def _send(self, text: str) -> None:
        self._last_send = self._first_write = time.monotonic()
        bridge.send("stream", {"name": self.name, "text": text})


class Utf8Writer(io.RawIOBase):
    """A binary stream that decodes UTF-8 and writes the text to ``target()`` (looked up at
    each write): a character split over writes is kept whole, undecodable bytes become U+FFFD.
    ``sys.stdout.buffer`` is one; a built-in command's inherited stdout (os_commands) another."""

    def __init__(self, target: Callable[[], Any]) -> None:
        super().__init__()
        self._target = target
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        text = self._decoder.decode(view.tobytes())
        if text:
            self._target().write(text)
        return view.nbytes

    def flush(self) -> None:
        self._target().flush()


class _BinaryWriter(Utf8Writer):
    """``sys.stdout.buffer``: the stream's own bytes, decoded into it."""

    def __init__(self, text: StreamToHost) -> None:
        super().__init__(lambda: text)
        self._text = text

    def fileno(self) -> int:
        return self._text.fileno()


#: True while a stream is inside ``write``: the tick handler then leaves the buffers alone.
_busy = False
_streams: list[StreamToHost] = []


def flush_on_tick(_signum: int, _frame: Any) -> None:
    """SIGUSR1 handler: the host ticks every few tenths of a second while a cell runs, so a
    partial line (``print('working...', end='')``) shows up even if nothing else is written."""
    if _busy:
        return
    for stream in _streams:
        stream.flush()


def pair() -> tuple[StreamToHost, StreamToHost]:
    """New stdout and stderr streams that keep each other's order."""
    out, err = StreamToHost("stdout"), StreamToHost("stderr")
    out.sibling, err.sibling = err, out
    _streams[:] = [out, err]
    return out, err


__all__ = ["FLUSH_INTERVAL", "MAX_BUFFER", "StreamToHost", "pair"]
