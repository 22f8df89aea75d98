"""Checking a Ray address before joining it, with no Ray started."""

from __future__ import annotations

import socket

import pytest

from walle_ray.engine import check_reachable


def test_listening_address_passes() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        check_reachable(f"127.0.0.1:{port}")
        check_reachable(f"ray://127.0.0.1:{port}")


def test_closed_port_names_address() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    with pytest.raises(ConnectionError) as caught:
        check_reachable(address, timeout_s=2)
    message = str(caught.value)
    assert repr(address) in message
    assert "no Ray cluster reachable" in message


@pytest.mark.parametrize("address", ["auto", "local", "head-node:not-a-port"])
def test_addresses_ray_resolves_are_not_checked(address: str) -> None:
    check_reachable(address, timeout_s=0.01)
