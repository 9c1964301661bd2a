"""Where local services listen and which ports they take (container deployments)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from metalab.core.schema import LocalEnvironment
from metalab.errors import ConfigError, ProvisioningFailed
from metalab_orchestrator.runtime.network import LocalNetwork, local_network, parse_port_range
from metalab_orchestrator.spec import Spec, check_shared


def test_defaults_are_loopback_and_any_port() -> None:
    network = local_network({})
    assert network == LocalNetwork("127.0.0.1", None)
    assert network.loopback_only and network.postgres_listen == "127.0.0.1"
    assert network.free_port() > 0


def test_container_settings() -> None:
    network = local_network({"METALAB_BIND_HOST": "0.0.0.0", "METALAB_PORT_RANGE": "31500-31509"})
    assert network.port_range == (31500, 31509)
    assert not network.loopback_only and network.postgres_listen == "*"


@pytest.mark.parametrize("text", ["", "5", "10-5", "80-90", "a-b", "1024-70000", "1-2-3"])
def test_bad_range_names_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^METALAB_PORT_RANGE: "):
        parse_port_range(text)


def test_bad_bind_host_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^METALAB_BIND_HOST: '10.0.0.1' is not"):
        local_network({"METALAB_BIND_HOST": "10.0.0.1"})


def _free_block(count: int) -> int:
    for start in range(30000, 32000, count):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", start))
            except OSError:
                continue
        return start
    raise AssertionError("no free ports")


def test_free_port_stays_in_the_range_and_skips_taken_ones() -> None:
    low = _free_block(3)
    network = LocalNetwork(port_range=(low, low + 2))
    with socket.socket() as held:
        held.bind(("127.0.0.1", low + 1))
        held.listen()
        picks = {network.free_port(exclude={low}) for _ in range(20)}
        assert picks == {low + 2}
        with pytest.raises(ProvisioningFailed, match="no free port left in METALAB_PORT_RANGE"):
            network.free_port(exclude={low, low + 2})


def test_any_port_honours_the_excluded_ones() -> None:
    """Without a range the kernel picks (bind 0); a port it hands out again is refused."""
    network = LocalNetwork()
    planned = network.free_port()
    assert planned not in {network.free_port(exclude={planned}) for _ in range(50)}
    with pytest.raises(
        ProvisioningFailed, match="no free port on 127.0.0.1 besides the 65535 already planned"
    ):
        network.free_port(exclude=range(1, 65536))


def test_configured_port_outside_the_range_is_a_config_error() -> None:
    network = LocalNetwork(port_range=(31500, 31509))
    network.check_port(31505, "services.atlas.port")
    with pytest.raises(ConfigError, match=r"^services.atlas.port: port 8000 is outside"):
        network.check_port(8000, "services.atlas.port")


def _spec(file_root: str) -> Spec:
    environment = LocalEnvironment(type="local", file_root=file_root)
    return Spec("p", "local", Path("/x"), environment)


def test_services_dir_must_be_under_the_shared_root(tmp_path: Path) -> None:
    check_shared(_spec(str(tmp_path / "shared/p/runs")), str(tmp_path / "shared"))
    check_shared(_spec("/anywhere"), "")
    with pytest.raises(ConfigError) as info:
        check_shared(_spec(str(tmp_path / "shared/../other")), str(tmp_path / "shared"))
    assert str(info.value).startswith("environments.local.file_root: ")
    assert f"is outside {tmp_path / 'shared'}" in str(info.value)
