"""input() and getpass ask the host; without an input handler they fail as in ipykernel."""

from __future__ import annotations

from tests.conftest import stream_text


def test_input_and_getpass_ask_the_handler(run):
    asked: list[tuple[str, bool]] = []

    def answer(prompt: str, password: bool) -> str:
        asked.append((prompt, password))
        return "secret" if password else "Ada"

    reply, messages = run("import getpass\nname = input('Name? ')\n"
                          "word = getpass.getpass()\nprint(name, len(word))",
                          input_handler=answer)
    assert reply.status == "ok"
    assert asked == [("Name? ", False), ("Password: ", True)]
    assert stream_text(messages) == "Ada 6\n"


def test_output_before_input_arrives_before_the_prompt(shared_sandbox):
    messages: list[dict] = []
    seen_when_asked: list[str] = []

    def answer(prompt: str, password: bool) -> str:
        seen_when_asked.append(stream_text(messages))
        return "x"

    reply = shared_sandbox.execute(
        "print('before')\nprint('partial', end='')\nvalue = input('> ')\nprint(value)",
        messages.append, input_handler=answer)
    assert reply.status == "ok"
    assert seen_when_asked == ["before\npartial"]
    assert stream_text(messages) == "before\npartialx\n"


def test_without_handler_input_raises_stdin_not_implemented(run):
    reply, _ = run("input('Name? ')")
    assert reply.status == "error"
    assert reply.ename == "StdinNotImplementedError"
    assert "does not support input requests" in reply.evalue
    reply, _ = run("from IPython.core.error import StdinNotImplementedError\n"
                   "try:\n    input()\nexcept StdinNotImplementedError:\n    caught = True\n"
                   "assert caught")
    assert reply.status == "ok"


def test_interrupt_while_waiting_for_input(run):
    def interrupted(prompt: str, password: bool) -> str:
        raise KeyboardInterrupt

    reply, _ = run("input()", input_handler=interrupted)
    assert reply.status == "error" and reply.ename == "KeyboardInterrupt"
