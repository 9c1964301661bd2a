"""How scheduler commands and job files reach the cluster: here, or over SSH to the gateway.

One Protocol, two implementations: ``LocalRunner`` (this machine is a login node: ``sbatch``
on PATH) and ``SshRunner`` (asyncssh to ``gateway`` as ``user``; honours ``~/.ssh/config``,
the agent and ``ssh_key``). Every command goes through one choke point, ``run``, which raises
``SchedulerError(argv, returncode, stderr)`` on a non-zero exit unless ``check=False``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import shutil
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from metalab.core import asyncssh_warnings
from metalab.core.errors import SchedulerError
from metalab.core.fs import write_atomic

if TYPE_CHECKING:
    import asyncssh

    from metalab.core.schema import SlurmEnvironment

log = logging.getLogger(__name__)
asyncssh_warnings.quiet()  # before this module's lazy asyncssh imports

COMMAND_TIMEOUT = 60.0
CONNECT_TIMEOUT = 15.0
REAP_TIMEOUT = 5.0


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class CommandRunner(Protocol):
    """Runs scheduler commands and moves small files where the job can see them."""

    @property
    def target(self) -> str:
        """Where commands run: ``local`` or ``user@gateway``."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
    ) -> CommandResult:
        """Run ``argv``; raise ``SchedulerError`` on failure when ``check``."""

    async def put_file(self, path: str, data: bytes) -> None:
        """Atomically write a private (0600) file on the cluster's filesystem."""

    async def read_file(self, path: str) -> bytes | None:
        """A file's content, or None when it does not exist."""

    async def open_connection(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A TCP stream to ``host:port`` as seen from the gateway; None: connect directly."""


def checked(result: CommandResult, check: bool) -> CommandResult:
    """The choke point: a failed command becomes ``SchedulerError``."""
    log.debug("%s -> %d", shlex.join(result.argv), result.returncode)
    if check and result.returncode != 0:
        raise SchedulerError(list(result.argv), result.returncode, result.stderr or result.stdout)
    return result


class LocalRunner:
    """Commands as subprocesses of this process; files written directly."""

    target = "local"

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
    ) -> CommandResult:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            return checked(CommandResult(tuple(argv), 127, "", str(exc)), check)
        try:
            out, err = await asyncio.wait_for(
                process.communicate(stdin.encode() if stdin is not None else None), timeout
            )
        except BaseException:
            if process.returncode is None:
                process.kill()
            # Bounded: a cancelled call must end even if the child's exit is never reported
            # (seen once: an interrupted `up` hung here while its event loop shut down).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), REAP_TIMEOUT)
            raise
        result = CommandResult(
            tuple(argv),
            process.returncode or 0,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
        )
        return checked(result, check)

    async def put_file(self, path: str, data: bytes) -> None:
        await asyncio.to_thread(write_atomic, Path(path), data)

    async def read_file(self, path: str) -> bytes | None:
        try:
            return await asyncio.to_thread(Path(path).read_bytes)
        except FileNotFoundError:
            return None

    async def open_connection(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        return None


class SshRunner:
    """Commands over one asyncssh connection to the gateway; files through SFTP."""

    def __init__(self, connection: asyncssh.SSHClientConnection, target: str) -> None:
        self._conn = connection
        self._target = target

    @property
    def target(self) -> str:
        return self._target

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
    ) -> CommandResult:
        import asyncssh

        command = shlex.join(argv)
        try:
            done = await asyncio.wait_for(
                self._conn.run(command, input=stdin, check=False), timeout
            )
        except (asyncssh.Error, OSError) as exc:
            result = CommandResult(tuple(argv), 255, "", f"ssh {self._target}: {exc}")
            return checked(result, check)
        code = done.exit_status if done.exit_status is not None else 255
        result = CommandResult(tuple(argv), code, _text(done.stdout), _text(done.stderr))
        return checked(result, check)

    async def put_file(self, path: str, data: bytes) -> None:
        import asyncssh

        target = Path(path)
        tmp = str(target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp"))
        async with self._conn.start_sftp_client() as sftp:
            await sftp.makedirs(str(target.parent), exist_ok=True)
            attrs = asyncssh.SFTPAttrs(permissions=0o600)
            async with sftp.open(tmp, "wb", attrs) as handle:  # created 0600, never chmodded
                await handle.write(data)
                await handle.fsync()
            try:
                await sftp.posix_rename(tmp, path)
            except asyncssh.SFTPError:
                await sftp.remove(tmp)
                raise

    async def read_file(self, path: str) -> bytes | None:
        import asyncssh

        async with self._conn.start_sftp_client() as sftp:
            try:
                async with sftp.open(path, "rb") as handle:
                    data: bytes = await handle.read()
                    return data
            except asyncssh.SFTPNoSuchFile:
                return None

    async def open_connection(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        import asyncssh

        try:
            reader, writer = await self._conn.open_connection(host, port)
        except asyncssh.Error as exc:
            raise ConnectionError(f"via {self._target}: {exc}") from exc
        return reader, writer  # type: ignore[return-value]  # asyncssh's duck-typed streams


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value or "")


def is_this_host(gateway: str) -> bool:
    """Whether ``gateway`` names this machine (then sbatch runs here, no SSH)."""
    names = {socket.gethostname(), socket.getfqdn()}
    return gateway in names or gateway.split(".", 1)[0] == socket.gethostname().split(".", 1)[0]


def runs_locally(environment: SlurmEnvironment) -> bool:
    """sbatch on PATH and no gateway, or the gateway is this host."""
    if environment.gateway is None:
        return True
    return shutil.which("sbatch") is not None and is_this_host(environment.gateway)


@asynccontextmanager
async def open_runner(environment: SlurmEnvironment) -> AsyncIterator[CommandRunner]:
    """The runner for an environment, open for the duration of the block."""
    if runs_locally(environment):
        yield LocalRunner()
        return
    import asyncssh

    assert environment.gateway is not None
    options: dict[str, object] = {"connect_timeout": CONNECT_TIMEOUT}
    if environment.user:
        options["username"] = environment.user
    if environment.ssh_key:
        options["client_keys"] = [os.path.expanduser(environment.ssh_key)]
    target = f"{environment.user + '@' if environment.user else ''}{environment.gateway}"
    try:
        connection = await asyncssh.connect(environment.gateway, **options)
    except (asyncssh.Error, OSError) as exc:
        raise SchedulerError(["ssh", target], 255, f"cannot connect to {target}: {exc}") from exc
    try:
        yield SshRunner(connection, target)
    finally:
        connection.close()
        await connection.wait_closed()
