"""Which address a services job advertises: one its clients on the submit side can reach.

A compute node's name often does not resolve where the user sits, and ``127.0.0.1`` on the
node is not the login node's. The job therefore advertises the source address of its route to
the submit host (``SLURM_SUBMIT_HOST``) or, failing that, to the controller: in an ordinary
network the host on the other end reaches the node at exactly that address. When every route
is loopback (the submit host *is* this node: a single-host cluster), the node's name is kept
if it resolves, else ``127.0.0.1``. With no route at all, the first non-loopback address of
the node's interfaces is used.

A node with several networks (Ethernet for SSH, InfiniBand for data) may route to the submit
host over one the clients should not use: ``advertise`` (an interface name, or a network in
CIDR form) picks the address instead, and a node without it fails the job with a clear error.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import logging
import socket
import struct
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from metalab.core.slurm.commands import SCONTROL_CONFIG, parse_controller_hosts

log = logging.getLogger(__name__)

SIOCGIFADDR = 0x8915
SCONTROL_TIMEOUT = 5.0


@dataclass(frozen=True)
class Advertised:
    """The address to advertise, why it was chosen, and every candidate considered."""

    host: str
    reason: str
    addresses: tuple[str, ...]


def url_host(host: str) -> str:
    """``host`` as it goes into a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def resolve(name: str) -> list[str]:
    """Addresses ``name`` resolves to here (an address is its own answer); [] when it does not."""
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def route_source(target: str) -> str | None:
    """The local address this node would send from to reach ``target`` (no packet is sent)."""
    try:
        family = socket.AF_INET6 if ":" in target else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((target, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return None


def named_interfaces() -> list[tuple[str, str]]:
    """(name, IPv4 address) of this node's interfaces that have one, loopback included."""
    found: list[tuple[str, str]] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
            except OSError:  # no IPv4 address on this interface
                continue
            found.append((name, socket.inet_ntoa(answer[20:24])))
    return found


def interface_addresses() -> list[str]:
    """The IPv4 addresses of this node's interfaces, loopback excluded."""
    return [address for _, address in named_interfaces() if not is_loopback(address)]


def chosen(
    advertise: str, node: str, interfaces: Callable[[], list[tuple[str, str]]] = named_interfaces
) -> Advertised:
    """The address ``advertise`` (an interface name or a network) selects on this node.

    Raises:
        ValueError: the node has no such interface, or no address in that network.
    """
    present = interfaces()
    try:
        network = ipaddress.ip_network(advertise, strict=False)
    except ValueError:
        network = None
    if network is None:
        matches = [address for name, address in present if name == advertise]
        what = f"interface {advertise}"
    else:
        matches = [a for _, a in present if ipaddress.ip_address(a) in network]
        what = f"network {network}"
    if not matches:
        shown = ", ".join(f"{name} {address}" for name, address in present) or "none"
        raise ValueError(
            f"advertise = {advertise!r}: node {node or '?'} has no address on {what} "
            f"(its interfaces: {shown})"
        )
    others = [a for _, a in present if not is_loopback(a)]
    return Advertised(
        matches[0], f"advertise = {advertise!r}", tuple(dict.fromkeys(matches + others))
    )


def controller_hosts(run: Callable[[list[str]], str] | None = None) -> list[str]:
    """The controllers' addresses (or names) from ``scontrol show config``; [] when unknown."""
    try:
        text = (run or _run)(list(SCONTROL_CONFIG))
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("scontrol show config failed: %s", exc)
        return []
    return parse_controller_hosts(text)


def _run(argv: list[str]) -> str:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=SCONTROL_TIMEOUT, check=True
    )
    return done.stdout


def choose(
    node: str,
    targets: Iterable[tuple[str, str]],
    *,
    resolver: Callable[[str], list[str]] = resolve,
    router: Callable[[str], str | None] = route_source,
    interfaces: Callable[[], list[str]] = interface_addresses,
) -> Advertised:
    """The address for ``node`` given (label, host) ``targets`` the clients sit behind."""
    looped = False
    for label, target in targets:
        for address in resolver(target):
            source = router(address)
            if source is None:
                continue
            if not is_loopback(source):
                reason = f"routes to the {label} {target}"
                return Advertised(source, reason, _all(source, interfaces))
            looped = True
    if looped:
        local = "127.0.0.1"
        reason = "the submit side is this node"
        if node and resolver(node):
            return Advertised(node, reason, _all(node, interfaces))
        return Advertised(local, reason, _all(local, interfaces))
    own: list[str] = []
    with contextlib.suppress(OSError):
        own = interfaces()
    if own:
        return Advertised(own[0], "no route to the submit side; first interface", tuple(own))
    return Advertised(node or "127.0.0.1", "no address found", (node,) if node else ())


def _all(first: str, interfaces: Callable[[], list[str]]) -> tuple[str, ...]:
    with contextlib.suppress(OSError):
        return tuple(dict.fromkeys([first, *interfaces()]))
    return (first,)


def advertised_address(environ: Mapping[str, str], advertise: str | None = None) -> Advertised:
    """The address a services job on this node advertises (see the module docstring).

    Raises:
        ValueError: ``advertise`` selects no address of this node.
    """
    node = environ.get("SLURMD_NODENAME") or socket.gethostname()
    if advertise:
        return chosen(advertise, node)

    def targets() -> Iterable[tuple[str, str]]:
        submit = environ.get("SLURM_SUBMIT_HOST", "")
        if submit:
            yield "submit host", submit
        for controller in controller_hosts():
            yield "controller", controller

    return choose(node, targets())
