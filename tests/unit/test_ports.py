"""Free ports: picked below the kernel's ephemeral range, bindable, never twice in a row; a
configured port held by another process fails naming its setting."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from kiln.ports import FIRST_PICKABLE, bind_loopback, check_port_free, free_port, pickable_ports


@pytest.mark.parametrize(
    ("range_text", "expected"),
    [
        ("32768\t60999\n", (FIRST_PICKABLE, 32767)),
        ("40000 65000", (FIRST_PICKABLE, 39999)),
        # Too few ports below a low range: a fixed span, as bind(("", 0)) would race anyway.
        ("1024 65535", (FIRST_PICKABLE, FIRST_PICKABLE + 2000)),
        ("not a range", (FIRST_PICKABLE, 32767)),
        ("", (FIRST_PICKABLE, 32767)),
    ],
)
def test_pickable_ports_sit_below_the_ephemeral_range(
    tmp_path: Path, range_text: str, expected: tuple[int, int]
) -> None:
    ephemeral = tmp_path / "ip_local_port_range"
    ephemeral.write_text(range_text)
    assert pickable_ports(ephemeral) == expected


def test_pickable_ports_fall_back_to_linux_defaults_without_the_file(tmp_path: Path) -> None:
    assert pickable_ports(tmp_path / "missing") == (FIRST_PICKABLE, 32767)


def test_a_free_port_is_outside_the_ephemeral_range_and_binds() -> None:
    low, high = pickable_ports(Path("/proc/sys/net/ipv4/ip_local_port_range"))
    port = free_port()
    assert low <= port <= high
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))


def test_free_ports_are_not_handed_out_twice_before_they_are_bound() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)


def test_a_held_port_fails_naming_its_setting() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"127.0.0.1:{port} is in use .* KILN_S3_PORT"):
            check_port_free(port, "KILN_S3_PORT")


def test_a_free_configured_port_binds_to_loopback() -> None:
    port = free_port()
    with bind_loopback(port, "KILN_S3_PORT") as bound:
        assert bound.getsockname() == ("127.0.0.1", port)
    check_port_free(port, "KILN_S3_PORT")
