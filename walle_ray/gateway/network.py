"""Loopback checks that keep the gateway and its callbacks on the local host."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` is ``localhost`` or a loopback IP address.

    Other host names are not resolved, so they count as not loopback.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_loopback_host(host: str) -> None:
    """Raise ``ValueError`` unless ``host`` is ``localhost`` or a loopback IP."""
    if not is_loopback_host(host):
        raise ValueError(
            f"invalid gateway host {host!r}: the local gateway runs function code "
            "without authentication, so it listens only on a loopback address "
            "such as 127.0.0.1, ::1 or localhost"
        )
