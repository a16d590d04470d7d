"""The replica transport reaches a replica at ``tcp://host:port`` (a cluster node's) as it
reaches a Unix socket: same request, same pooled connection."""

from __future__ import annotations

import asyncio
import socket

import pytest

from kiln.compute.sockets import socket_file, tcp_endpoint
from kiln.services.hosting.transport import ReplicaUnreachable
from kiln.transport.unix import UnixReplicaTransport


async def _echo_server() -> tuple[asyncio.Server, int, list[asyncio.StreamWriter]]:
    """An HTTP/1.1 keep-alive server answering each request with its body; its connections."""
    connections: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while not reader.at_eof():
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            body = await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port, connections


def test_a_tcp_replica_answers_through_one_pooled_connection() -> None:
    async def run() -> tuple[list[bytes], int]:
        server, port, connections = await _echo_server()
        transport = UnixReplicaTransport()
        answers = []
        for body in (b"one", b"two"):
            response = await transport.post(f"tcp://127.0.0.1:{port}", b"/invocations", [], body, 5)
            answers.append(response.body)
        transport.close()
        server.close()
        for connection in connections:
            connection.close()
            await connection.wait_closed()
        await server.wait_closed()
        return answers, len(connections)

    answers, connections = asyncio.run(run())
    assert answers == [b"one", b"two"]
    assert connections == 1


def test_a_tcp_replica_nobody_listens_on_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused

        async def run() -> None:
            await UnixReplicaTransport().post(f"tcp://127.0.0.1:{port}", b"/x", [], b"", 5)

        with pytest.raises(ReplicaUnreachable):
            asyncio.run(run())


@pytest.mark.parametrize(
    ("address", "endpoint", "file"),
    [
        ("tcp://10.0.0.7:8080", ("10.0.0.7", 8080), None),
        ("tcp://[::1]:81", ("::1", 81), None),
        ("/run/kiln/sockets/r.sock", None, "/run/kiln/sockets/r.sock"),
    ],
)
def test_an_address_is_a_tcp_endpoint_or_a_socket_file(
    address: str, endpoint: tuple[str, int] | None, file: str | None
) -> None:
    assert tcp_endpoint(address) == endpoint
    found = socket_file(address)
    assert (None if found is None else str(found)) == file


def test_a_replica_that_dies_mid_answer_is_unreachable_so_another_takes_the_request() -> None:
    async def run() -> None:
        async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            await writer.drain()
            writer.close()  # dies before the rest of its body

        server = await asyncio.start_server(half, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport = UnixReplicaTransport()
        try:
            await transport.post(f"tcp://127.0.0.1:{port}", b"/invocations", [], b"x", 5)
        finally:
            transport.close()
            server.close()
            await server.wait_closed()

    with pytest.raises(ReplicaUnreachable, match="mid-response"):
        asyncio.run(run())
