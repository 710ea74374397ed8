"""The kernel's TCP counters the broker uses for TLS connections (runtime/network/wire_bytes.py):
on a real loopback connection they give exactly the bytes sent and the bytes received *and read*
(not those still unread), and a TlsWireAccount hands each byte out once: both ways while a
handshake runs, then only received bytes beyond the plaintext relayed."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator

import pytest

from jupyter_sandbox.runtime.network.wire_bytes import TlsWireAccount, counters

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="TCP_INFO counters are Linux's")


@pytest.fixture()
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    with client, server:
        yield client, server


def wait_unread(sock: socket.socket, at_least: int) -> None:
    deadline = time.monotonic() + 30
    while len(sock.recv(1 << 20, socket.MSG_PEEK | socket.MSG_DONTWAIT)) < at_least:
        assert time.monotonic() < deadline, "the loopback bytes never arrived"


def test_counters_are_bytes_sent_and_bytes_read(pair):
    client, server = pair
    client.sendall(b"x" * 12_345)
    server.sendall(b"y" * 777)
    wait_unread(client, 777)
    assert counters(client) == (12_345, 0)  # arrived, not read yet
    assert client.recv(100) == b"y" * 100
    assert counters(client) == (12_345, 100)


def test_an_account_counts_each_byte_once(pair):
    client, server = pair
    account = TlsWireAccount(client)
    client.sendall(b"h" * 300)  # "handshake" bytes both ways
    server.sendall(b"s" * 5_000)
    wait_unread(client, 5_000)
    client.recv(5_000)
    assert account.uncounted(client, handshaking=True) == (300, 5_000)
    assert account.uncounted(client, handshaking=True) == (0, 0)
    # After the handshake: sends are the guest's own (counted by the broker), and received
    # bytes count only beyond the plaintext the broker relayed.
    client.sendall(b"g" * 50)
    server.sendall(b"r" * 1_000)
    wait_unread(client, 1_000)
    client.recv(1_000)
    account.plaintext_received += 900
    assert account.uncounted(client, handshaking=False) == (0, 100)
    assert account.uncounted(client, handshaking=False) == (0, 0)


def test_a_closed_socket_counts_nothing(pair):
    client, _ = pair
    account = TlsWireAccount(client)
    client.close()
    assert counters(client) is None
    assert account.uncounted(client, handshaking=True) == (0, 0)
