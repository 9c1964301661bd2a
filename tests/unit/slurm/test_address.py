"""Which address a services job advertises (backends/slurm/address.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from metalab_orchestrator.backends.slurm.address import (
    Advertised,
    choose,
    chosen,
    controller_hosts,
    interface_addresses,
    route_source,
    url_host,
)

NODE_IF = ["10.232.0.12", "192.168.7.12"]


def resolver(table: dict[str, list[str]]) -> Callable[[str], list[str]]:
    return lambda name: table.get(name, [name] if name[0].isdigit() else [])


def router(table: dict[str, str | None]) -> Callable[[str], str | None]:
    return lambda target: table.get(target)


def pick(
    targets: list[tuple[str, str]],
    names: dict[str, list[str]],
    routes: dict[str, str | None],
    node: str = "node2",
) -> Advertised:
    return choose(
        node,
        targets,
        resolver=resolver(names),
        router=router(routes),
        interfaces=lambda: list(NODE_IF),
    )


def test_the_address_routing_to_the_submit_host_wins() -> None:
    chosen = pick(
        [("submit host", "login1"), ("controller", "10.232.0.1")],
        {"login1": ["192.168.7.1"]},
        {"192.168.7.1": "192.168.7.12", "10.232.0.1": "10.232.0.12"},
    )
    assert chosen.host == "192.168.7.12"
    assert chosen.reason == "routes to the submit host login1"
    assert chosen.addresses == ("192.168.7.12", "10.232.0.12")


def test_a_submit_host_seen_as_loopback_falls_through_to_the_controller() -> None:
    chosen = pick(
        [("submit host", "vm"), ("controller", "10.232.0.1")],
        {"vm": ["127.0.0.1"]},
        {"127.0.0.1": "127.0.0.1", "10.232.0.1": "10.232.0.12"},
    )
    assert chosen.host == "10.232.0.12"
    assert "controller" in chosen.reason


def test_single_host_cluster_keeps_a_resolvable_node_name() -> None:
    routes: dict[str, str | None] = {"127.0.0.1": "127.0.0.1"}
    names = {"vm": ["127.0.0.1"]}
    kept = pick([("submit host", "vm"), ("controller", "127.0.0.1")], names, routes, node="vm")
    assert kept.host == "vm"
    unresolvable = pick([("submit host", "vm")], names, routes, node="ghost")
    assert unresolvable.host == "127.0.0.1"


def test_no_route_anywhere_takes_the_first_interface_address() -> None:
    chosen = pick([("submit host", "login1")], {"login1": ["172.16.0.1"]}, {})
    assert chosen.host == "10.232.0.12" and chosen.addresses == tuple(NODE_IF)
    assert pick([], {}, {}).host == "10.232.0.12"


def test_no_address_at_all_falls_back_to_the_node_name() -> None:
    chosen = choose("node2", [], resolver=resolver({}), router=router({}), interfaces=list)
    assert chosen.host == "node2" and chosen.addresses == ("node2",)


def test_controllers_from_scontrol_show_config() -> None:
    text = (
        "SlurmctldAddr           = (null)\n"
        "SlurmctldHost[0]        = mlmn-ctl(10.232.0.1)\n"
        "SlurmctldHost[1]        = backup\n"
        "SlurmctldLogFile        = /x\n"
    )
    assert controller_hosts(lambda argv: text) == ["10.232.0.1", "backup"]

    def broken(argv: list[str]) -> str:
        raise OSError("no scontrol")

    assert controller_hosts(broken) == []


def test_real_probes_on_this_machine() -> None:
    assert route_source("127.0.0.1") == "127.0.0.1"
    assert route_source("not-an-address") is None
    assert all(not a.startswith("127.") for a in interface_addresses())


def test_ipv6_hosts_are_bracketed_in_urls() -> None:
    assert url_host("fd00::2") == "[fd00::2]" and url_host("10.0.0.1") == "10.0.0.1"


def test_advertise_by_interface_or_network_and_refusal() -> None:
    present = [("lo", "127.0.0.1"), ("eth0", "10.0.0.5"), ("ib0", "192.168.7.5")]
    assert chosen("ib0", "n1", lambda: present).host == "192.168.7.5"
    by_net = chosen("192.168.0.0/16", "n1", lambda: present)
    assert by_net.host == "192.168.7.5" and by_net.addresses == ("192.168.7.5", "10.0.0.5")
    with pytest.raises(ValueError, match=r"node n1 has no address on interface ib1 \(its "):
        chosen("ib1", "n1", lambda: present)
    with pytest.raises(ValueError, match="network 172.16.0.0/12"):
        chosen("172.16.0.0/12", "n1", lambda: present)
