"""asyncio in the guest, which has no socketpair for asyncio's usual self-pipe."""

from __future__ import annotations

from tests.conftest import stream_text


def result_text(messages: list[dict]) -> str:
    return [m for m in messages if m["msg_type"] == "execute_result"][-1]["content"]["data"][
        "text/plain"]


def test_top_level_await(run):
    reply, messages = run("import asyncio, time\nstart = time.monotonic()\n"
                          "await asyncio.sleep(0.01)\ntime.monotonic() - start >= 0.01")
    assert reply.status == "ok"
    assert result_text(messages) == "True"


def test_asyncio_run_with_concurrent_tasks(run):
    reply, messages = run(
        "import asyncio\n"
        "async def job(name, delay):\n"
        "    await asyncio.sleep(delay)\n"
        "    print(name)\n"
        "    return name\n"
        "async def main():\n"
        "    return await asyncio.gather(job('slow', 0.02), job('fast', 0.005))\n"
        "asyncio.run(main())")
    assert reply.status == "ok"
    assert stream_text(messages) == "fast\nslow\n"
    assert result_text(messages) == "['slow', 'fast']"


def test_new_event_loop_and_event_loop_alias(run):
    reply, messages = run(
        "import asyncio\nloop = asyncio.new_event_loop()\n"
        "value = loop.run_until_complete(asyncio.sleep(0.001, result='slept'))\nloop.close()\n"
        "other = asyncio.run(asyncio.sleep(0, result='run'), loop_factory=asyncio.EventLoop)\n"
        "value, other, type(loop).__name__")
    assert reply.status == "ok", reply.evalue
    assert result_text(messages) == "('slept', 'run', 'SandboxEventLoop')"


def test_call_later_and_futures(run):
    reply, messages = run(
        "import asyncio\nloop = asyncio.get_running_loop()\nfut = loop.create_future()\n"
        "loop.call_later(0.01, fut.set_result, 42)\nawait fut")
    assert reply.status == "ok"
    assert result_text(messages) == "42"


def test_waiting_forever_is_a_clear_error_and_the_loop_survives(run):
    reply, _ = run("import asyncio\nawait asyncio.get_running_loop().create_future()")
    assert reply.status == "error"
    assert reply.ename == "EventLoopDeadlockError"
    assert "can never happen" in reply.evalue
    reply, messages = run("await asyncio.sleep(0, result='still fine')")
    assert result_text(messages) == "'still fine'"


def test_interrupt_stops_an_awaited_sleep(sandbox):
    messages: list[dict] = []

    def on_message(message: dict) -> None:
        messages.append(message)
        if message["msg_type"] == "stream" and "waiting" in message["content"]["text"]:
            sandbox.interrupt()

    reply = sandbox.execute("import asyncio\nprint('waiting')\nawait asyncio.sleep(60)",
                            on_message)
    assert reply.status == "error" and reply.ename == "KeyboardInterrupt"
    messages.clear()
    reply = sandbox.execute("await asyncio.sleep(0, result=5)", messages.append)
    assert reply.status == "ok"
    assert result_text(messages) == "5"


def test_to_thread_runs_without_threads(run):
    reply, messages = run("import asyncio\ndef work(a, b):\n    return a * b\n"
                          "def fail():\n    raise ValueError('from worker')\n"
                          "product = await asyncio.to_thread(work, 6, 7)\n"
                          "try:\n    await asyncio.get_running_loop().run_in_executor(None, fail)\n"
                          "except ValueError as exc:\n    caught = str(exc)\nproduct, caught")
    assert reply.status == "ok", reply.evalue
    assert result_text(messages) == "(42, 'from worker')"
