"""The operation in progress and its output: bounded, validated, counted.

An ``Operation`` is the host-side state of one request running in the guest (a cell, a
completion, a preview request). Everything the guest says during it passes through here:
``op: message`` requests are checked against their type's fields (``protocol.clean_message``),
raw writes to fd 1/2 are decoded, and all of it counts against the operation's output cap; past
the cap output is dropped with one notice. The host's own notices are never counted or dropped.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import protocol
from ..protocol import InputAnswer, Message, StopReason, Unchecked
from .messages import InputHandler, OnMessage

log = logging.getLogger("jupyter_sandbox.sandbox.output")
_STREAM_NAMES = {1: "stdout", 2: "stderr"}


@dataclass
class Operation:
    """The host-side state of the operation in progress."""

    on_message: OnMessage
    input_handler: InputHandler | None = None
    output_limit: int = 0
    output_used: int = 0
    capped: bool = False
    #: The guest's reply (unchecked: ``operations.execute`` cleans an execute reply).
    reply: Unchecked | None = None
    #: What the guest's SIGINT handler is told when it asks; back to NONE once it asked.
    interrupt_reason: StopReason = StopReason.NONE
    #: What stopped the operation, if anything; never reset.
    stopped_by: StopReason | None = None
    #: A snapshot action the cell asked for (``%snapshot``), done once its turn has ended.
    after: tuple[str, str] | None = None
    decoders: dict[int, codecs.IncrementalDecoder] = field(default_factory=dict)
    #: A preview request (its ``http.*``/``ws.*`` answer is bounded per message, not capped).
    preview: bool = False
    #: Guest requests refused unread for their size, and whether a malformed message (or a
    #: failing consumer) was already reported: one notice per operation.
    oversized: int = 0
    refused_notice: bool = False
    consumer_failed: bool = False
    #: Called (from the clock's thread) when a preview request passes its time limit.
    on_timeout: Callable[[], None] | None = None

    # -- from the guest -------------------------------------------------------------------
    def guest_message(self, request: Unchecked, size: int) -> None:
        """An ``op: message`` request (``size`` bytes of JSON): checked against its type's
        fields, then counted and passed on; a malformed one is dropped with one notice per
        operation."""
        try:
            message = protocol.clean_message(request.get("msg_type"), request.get("content"),
                                             request.get("metadata"))
        except protocol.GuestMessageError as exc:
            if self.charge(size) and not self.refused_notice:
                self.refused_notice = True
                log.warning("%s", exc)
                self.notify(f"[jupyter-sandbox] {exc}. Further malformed messages of "
                            "this cell are dropped without notice.")
            return
        self.deliver(message, size=size)

    def guest_reply(self, content: object, size: int) -> None:
        """The operation's reply. It reaches the front end too (an execute_reply carries the
        traceback): counted against the cap, and past it reduced to its status."""
        if not isinstance(content, dict):
            self.reply = {"status": "error", "ename": "SandboxError",
                          "evalue": "the sandbox sent a malformed reply", "traceback": []}
            return
        if self.output_limit and not self.preview and not self.charge(size):
            evalue = content.get("evalue")
            content = {key: content[key] for key in ("status", "execution_count", "ename")
                       if key in content}
            content["evalue"] = evalue[:1000] if isinstance(evalue, str) else ""
        self.reply = content

    def fd_write(self, fd: int, data: bytes) -> None:
        """Raw writes to fd 1/2 (C code, ``os.write``) become stream messages. WASI hands
        over at most ``wasi.MAX_STDIO_WRITE`` bytes per call; past the cap nothing is decoded."""
        if self.capped:
            return
        decoder = self.decoders.setdefault(fd, codecs.getincrementaldecoder("utf-8")("replace"))
        text = decoder.decode(data)
        if text:
            self.deliver({"msg_type": "stream",
                          "content": {"name": _STREAM_NAMES.get(fd, "stdout"), "text": text},
                          "metadata": {}}, size=len(data))

    def ask_input(self, request: Unchecked) -> InputAnswer:
        """An ``input()`` from the guest, answered by the front end (the prompt counts as
        output)."""
        if self.input_handler is None:
            return {"error": "the front end does not support input requests"}
        prompt = request.get("prompt")
        prompt = prompt if isinstance(prompt, str) else ""
        if not self.charge(len(prompt)):
            prompt = ""  # the prompt counts as output: past the cap, ask without it
        try:
            return {"value": self.input_handler(prompt, request.get("password") is True)}
        except KeyboardInterrupt:
            return {"interrupted": True}

    # -- the cap --------------------------------------------------------------------------
    def charge(self, size: int) -> bool:
        """Count ``size`` bytes of output against the cap; False (and the cap notice, once)
        when they do not fit."""
        if self.capped:
            return False
        if self.output_used + size > self.output_limit:
            self.cap()
            return False
        self.output_used += size
        return True

    def cap(self) -> None:
        """Stop passing output on, and say so once."""
        if self.capped:
            return
        self.capped = True
        limit_mib = self.output_limit / (1 << 20)
        self.notify(f"\n[jupyter-sandbox] This cell's output passed the limit of "
                    f"{limit_mib:g} MiB; further output from it is dropped.")

    # -- to the consumer ------------------------------------------------------------------
    def notify(self, text: str) -> None:
        """The host's own notice in the operation's stderr (never counted, never dropped)."""
        self.pass_on({"msg_type": "stream", "metadata": {},
                      "content": {"name": "stderr", "text": text + "\n"}})

    def say(self, text: str, name: str = "stdout") -> None:
        """The host's own output line (``%pip`` progress, ``%snapshot`` results), not counted."""
        self.deliver({"msg_type": "stream", "metadata": {},
                      "content": {"name": name, "text": text + "\n"}})

    def deliver(self, message: Message, size: int | None = None) -> None:
        """Pass a message on. ``size``: its bytes as the guest sent them, counted against the
        cap (a preview's own answer is not: it goes to the HTTP client, bounded per message);
        None for the host's own messages, which are neither counted nor dropped."""
        if size is not None and message["msg_type"] not in protocol.PREVIEW_MESSAGE_TYPES:
            if not self.charge(size):
                log.debug("dropped a %s message past the output cap", message["msg_type"])
                return
        self.pass_on(message)

    def pass_on(self, message: Message) -> None:
        try:
            self.on_message(message)
        except Exception:  # a broken consumer must not kill the guest: logged once
            if not self.consumer_failed:
                self.consumer_failed = True
                log.exception("a %s message from the sandbox could not be passed on",
                              message["msg_type"])
            else:
                log.debug("another %s message could not be passed on", message["msg_type"],
                          exc_info=True)
