"""The OpenSSH data path: supervised ``ssh -N`` ControlMasters that carry the tunnel's bytes.

One master per tunnel (jump mode: one per node), started in its own session with a private 0700
directory for the control socket, and tied to this process with ``setpriv --pdeathsig`` where
available, so that it dies with us even on SIGKILL. Each accepted local connection is handed to a
master (see ``mux``), which relays it in C exactly as ``ssh -L`` would. Host keys are checked
against the same known_hosts files as the asyncssh path, never more.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import dataclasses
import logging
import os
import pwd
import shutil
import signal
import socket
from pathlib import Path

from metalab.core.ssh_options import (
    LOCAL_HOST,
    MASTER_READY,
    ForwardSpec,
    SshTarget,
    TunnelMode,
    gateway_connect_kwargs,
    master_argv,
    node_connect_kwargs,
)
from metalab_server.pidfd import Pin, open_pidfd, signal_group
from metalab_tunnel import mux
from metalab_tunnel.connector import gateway_label
from metalab_tunnel.failures import HopFailure
from metalab_tunnel.hostkeys import known_hosts_files
from metalab_tunnel.workdirs import make_workdir

log = logging.getLogger(__name__)

STOP_GRACE = 2.0  # seconds between SIGTERM and SIGKILL
SPARE_CONTROLS = 2  # control connections opened ahead, so a new connection waits for less


# Masters (process groups, each with its leader's pin and start time) and control-socket
# directories still in use: ended and removed at interpreter exit too, for a process that ends
# before its tunnels are closed (Ctrl+C racing the close) on a system without setpriv. ssh
# removes its control socket itself.
_GROUPS: dict[int, Leader] = {}
_WORKDIRS: set[str] = set()


@atexit.register
def _clean_up_at_exit() -> None:
    for leader in list(_GROUPS.values()):
        leader.signal_group(signal.SIGTERM)
    for workdir in list(_WORKDIRS):
        shutil.rmtree(workdir, ignore_errors=True)


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` from its third field on (state, ppid, pgrp, ...); None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


@dataclasses.dataclass
class Leader:
    """An ``ssh`` master we started, leader of its own process group: its pid (= the group's
    id), a pidfd opened before it could be reaped, and its start time."""

    pid: int
    pin: Pin | None
    start_time: int | None

    @classmethod
    def of_child(cls, pid: int) -> Leader:
        """Pin our child ``pid``; it cannot be reaped (and its pid reused) before we wait."""
        fields = _stat_fields(pid)
        try:
            pin: Pin | None = Pin(pid, open_pidfd(pid))
        except ProcessLookupError:
            pin = None
        return cls(pid, pin, int(fields[19]) if fields else None)

    def signal_group(self, sig: int) -> None:
        """Signal the group through `pidfd.signal_group`: ``killpg`` while the pinned leader
        lives; else (reaped, or no pidfds here) each member alone, through its own pidfd, when
        it is this account's and the group's number is not some newer process's pid."""
        uid = os.getuid()

        def member(pid: int) -> bool:
            fields = _stat_fields(pid)
            try:
                owner = os.stat(f"/proc/{pid}").st_uid
            except OSError:
                return False
            if fields is None or int(fields[2]) != self.pid or owner != uid:
                return False
            holder = _stat_fields(self.pid)
            return holder is None or int(holder[19]) == self.start_time

        pinned = self.pin if self.pin is not None and self.pin.fd is not None else None
        with contextlib.suppress(PermissionError):
            signal_group(self.pid, sig, pinned, member)

    def close(self) -> None:
        if self.pin is not None:
            self.pin.close()


def _workdir() -> str:
    """A private directory for control sockets (`workdirs.make_workdir`), removed at exit."""
    workdir = make_workdir()
    _WORKDIRS.add(workdir)
    return workdir


def ssh_installed() -> bool:
    return shutil.which("ssh") is not None


def same_config(target: SshTarget) -> SshTarget:
    """Name the config file asyncssh reads by default (``$HOME/.ssh/config``, nothing else):
    ssh itself would look in the passwd entry's home and read /etc/ssh/ssh_config too."""
    if target.config_files is not None:
        return target
    default = Path("~/.ssh/config").expanduser()
    return dataclasses.replace(target, config_files=(str(default),) if default.is_file() else ())


# The key files asyncssh loads by default from $HOME/.ssh, in its order.
DEFAULT_KEY_FILES = ("id_ed25519_sk", "id_ecdsa_sk", "id_ed448", "id_ed25519", "id_ecdsa", "id_rsa")


def same_identities(target: SshTarget) -> SshTarget:
    """Name the keys asyncssh loads by default (from ``$HOME/.ssh``) when ``$HOME`` is not
    the passwd entry's home, where ssh would look instead; unchanged when a key is set."""
    if target.ssh_key or any(o.lower().startswith("identityfile") for o in target.options):
        return target
    home = Path("~").expanduser()
    try:
        passwd_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        passwd_home = None
    if passwd_home is not None and home.resolve() == passwd_home.resolve():
        return target
    keys = [home / ".ssh" / name for name in DEFAULT_KEY_FILES]
    # (a path with white space would need quoting that the asyncssh side would not undo)
    named = tuple(
        f"IdentityFile={k}" for k in keys if k.is_file() and not any(c.isspace() for c in str(k))
    )
    return dataclasses.replace(target, options=target.options + named) if named else target


def _launcher() -> list[str]:
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


class SshMaster:
    """One ``ssh -N`` ControlMaster process: start, wait until it is lost, stop."""

    def __init__(self, label: str, argv: list[str], control_path: str) -> None:
        self.label = label
        self.control_path = control_path
        self._argv = argv
        self._process: asyncio.subprocess.Process | None = None
        self._leader: Leader | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._drain: asyncio.Task[None] | None = None
        self._spares: collections.deque[socket.socket] = collections.deque()
        self._refill_pending = False

    async def start(self, timeout: float) -> None:
        """Spawn ssh and wait until its control socket listens; HopFailure if it exits first."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.control_path)  # a stale socket would make ssh run without one
        self._process = await asyncio.create_subprocess_exec(
            *_launcher(),
            *self._argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, "SHELL": "/bin/sh"},  # runs our LocalCommand / ProxyCommand
        )
        self._leader = Leader.of_child(self._process.pid)
        _GROUPS[self._process.pid] = self._leader
        self._drain = asyncio.get_running_loop().create_task(self._drain_stderr())
        try:
            ready = await asyncio.wait_for(self._ready(), timeout)
        except TimeoutError:
            await self.stop()
            raise HopFailure(self.label, f"ssh did not connect within {timeout:.0f}s") from None
        if not ready:
            if self.is_running:
                await self.stop()
                said = f" ({self._stderr[-1]})" if self._stderr else ""
                raise HopFailure(self.label, f"ssh started without its control socket{said}")
            reason = await self.wait_lost()
            await self.stop()
            raise HopFailure(self.label, reason)
        self._refill()

    def hand_over(self, conn: socket.socket, host: str, port: int) -> socket.socket:
        """Pass ``conn`` to this master for a channel to host:port; return the control
        connection to keep open. OSError (ECONNREFUSED) when the master is gone."""
        while self._spares:
            control = self._spares.popleft()
            try:
                mux.hand_over(control, conn, host, port)
            except OSError:
                control.close()  # opened before the master died
                continue
            self._refill_soon()
            return control
        control = mux.connect(self.control_path)
        try:
            mux.hand_over(control, conn, host, port)
        except OSError:
            control.close()
            raise
        self._refill_soon()
        return control

    def _refill_soon(self) -> None:
        if not self._refill_pending:
            self._refill_pending = True
            asyncio.get_running_loop().call_soon(self._refill)

    def _refill(self) -> None:
        self._refill_pending = False
        while self.is_running and len(self._spares) < SPARE_CONTROLS:
            try:
                self._spares.append(mux.connect(self.control_path))
            except OSError:
                return

    async def _ready(self) -> bool:
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            if line.strip() == MASTER_READY.encode():
                return Path(self.control_path).exists()
        return False

    async def _drain_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        while line := await self._process.stderr.readline():
            text = line.decode(errors="replace").strip()
            if text:
                self._stderr.append(text)
                log.debug("%s: ssh: %s", self.label, text)

    async def wait_lost(self) -> str:
        """Wait until ssh exits; return why, in its own words where it gave any."""
        assert self._process is not None
        status = await self._process.wait()
        if self._drain is not None:
            await asyncio.gather(self._drain, return_exceptions=True)
        reason = self._stderr[-1] if self._stderr else f"ssh exited with status {status}"
        return f"ssh: {reason}"

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def stop(self) -> None:
        """SIGTERM the process group (ssh and its ProxyCommand), SIGKILL after a grace period."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE)
            except TimeoutError:
                self._signal(signal.SIGKILL)
                await process.wait()
        self._signal(signal.SIGKILL)  # a ProxyCommand left behind in the group
        _GROUPS.pop(process.pid, None)
        if self._leader is not None:
            self._leader.close()
            self._leader = None
        while self._spares:
            self._spares.popleft().close()
        if self._drain is not None:
            self._drain.cancel()
            await asyncio.gather(self._drain, return_exceptions=True)
        # Close the pipes now, on this loop: a transport left to the garbage collector closes
        # them on whatever loop is current then, or on a closed one ("Event loop is closed").
        transport = getattr(process, "_transport", None)
        if isinstance(transport, asyncio.SubprocessTransport):
            transport.close()

    def _signal(self, sig: signal.Signals) -> None:
        if self._leader is not None:
            self._leader.signal_group(sig)


class MasterRoute:
    """The masters of one tunnel (gateway mode: one; jump mode: one per node)."""

    def __init__(self, mode: TunnelMode, workdir: str, masters: dict[str, SshMaster]) -> None:
        self.mode = mode
        self._workdir = workdir
        self._masters = masters

    @classmethod
    async def start(
        cls, target: SshTarget, mode: TunnelMode, forwards: tuple[ForwardSpec, ...]
    ) -> MasterRoute:
        """Start and wait for every master; HopFailure (with ssh's reason) if one fails."""
        target = same_identities(same_config(target))
        gateway_files = [str(f) for f in known_hosts_files(gateway_connect_kwargs(target))]
        route = cls(mode, _workdir(), {})
        hosts = sorted({f.remote_host for f in forwards}) if mode == "jump" else [""]
        try:
            for index, host in enumerate(hosts):
                control = str(Path(route._workdir) / f"m{index}")
                if mode == "jump":
                    files = [str(f) for f in known_hosts_files(node_connect_kwargs(target, host))]
                    label = f"{gateway_label(target)} → node {host}"
                    argv = master_argv(target, host, control, files, gateway_files)
                else:
                    label = gateway_label(target)
                    argv = master_argv(target, None, control, gateway_files, gateway_files)
                master = SshMaster(label, argv, control)
                route._masters[host] = master
                await master.start(timeout=2 * target.connect_timeout + 5)
        except BaseException:
            await route.close()
            raise
        return route

    def hand_over(self, conn: socket.socket, spec: ForwardSpec) -> socket.socket:
        """Give ``conn`` to the master for ``spec``; return the control connection to watch."""
        if self.mode == "jump":
            master, host = self._masters[spec.remote_host], LOCAL_HOST
        else:
            master, host = self._masters[""], spec.remote_host
        return master.hand_over(conn, host, spec.remote_port)

    @property
    def is_closed(self) -> bool:
        return not all(m.is_running for m in self._masters.values())

    async def wait_lost(self) -> str:
        """Wait until any master exits; return why."""
        waits = [asyncio.ensure_future(m.wait_lost()) for m in self._masters.values()]
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return next(iter(done)).result()

    async def close(self) -> None:
        await asyncio.gather(*(m.stop() for m in self._masters.values()))
        shutil.rmtree(self._workdir, ignore_errors=True)
        _WORKDIRS.discard(self._workdir)
