"""The metalab exception tree.

MetalabError                      base; exit code 1 at the CLI edge unless stated
├── ConfigError                   bad .metalab.toml / settings / flags; exit code 2
│   │                             (also a ValueError: upstream metalab users catch that)
│   └── UsageError                a command used wrongly; exit code 2
├── ServerUnavailable             the gRPC server cannot be reached
├── AuthError                     missing or wrong token
├── DeadlineExceeded              a call ran out of time
├── BundleNotFound                no service bundle where one was expected
├── BundleError                   a bundle file is corrupt or of a foreign schema version
│   └── BundleRefused             a bundle metalab will not trust (symlink, owner, mode, identity)
├── BundleConflict                a bundle changed since it was read (a lost compare-and-set)
├── ProvisioningFailed            a service did not start; carries the log tail
├── SchedulerError                sbatch/squeue/scancel failed; carries argv, code, stderr
├── TunnelError                   an SSH tunnel could not be opened or kept
└── StoreError                    a store locator is invalid or a store is unreadable
"""

from __future__ import annotations

from collections.abc import Sequence


class MetalabError(Exception):
    """Base of every error metalab raises on purpose."""

    exit_code = 1


class ConfigError(MetalabError, ValueError):
    """A configuration value is wrong: names the file, the dotted key and the problem.

    A `ValueError` too, as upstream metalab raises ValueError for bad configuration.
    """

    exit_code = 2

    def __init__(self, problem: str, *, file: str | None = None, key: str | None = None) -> None:
        self.problem = problem
        self.file = file
        self.key = key
        parts = [_one_line(p) for p in (file, key) if p]
        super().__init__(": ".join([*parts, _one_line(problem)]))


def _one_line(text: str) -> str:
    """``text`` fit for one line of a message: control characters escaped, at most 2,000."""
    if len(text) <= 2000 and text.isprintable():
        return text
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:2000])
    return escaped + ("…" if len(text) > 2000 else "")


class UsageError(ConfigError):
    """A command was used wrongly."""


class ServerUnavailable(MetalabError):
    """The metalab server could not be reached."""


class AuthError(MetalabError):
    """The server rejected the call's credentials."""


class DeadlineExceeded(MetalabError):
    """A call did not finish within its deadline."""


class BundleNotFound(MetalabError):
    """No service bundle exists where one was expected."""


class BundleError(MetalabError):
    """A bundle file exists but cannot be used."""


class BundleRefused(BundleError):
    """A bundle (or its directory) fails the ownership, mode or identity checks: it may have
    been planted, so nothing it records is acted upon."""


class BundleConflict(MetalabError):
    """A bundle write or delete lost a race: the bundle changed since the caller read it."""


class ProvisioningFailed(MetalabError):
    """A service failed to start; ``log_tail`` holds the end of its log."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        self.log_tail = log_tail
        super().__init__(message)


class SchedulerError(MetalabError):
    """A scheduler command failed."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        tail = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
        super().__init__(f"{argv[0] if argv else '?'} exited with {returncode}: {tail}")

    @classmethod
    def remote(cls, message: str) -> SchedulerError:
        """The error as a client sees it: the server's one-line message, no argv or stderr."""
        error = cls([], -1, "")
        error.args = (message,)
        return error


class TunnelError(MetalabError):
    """An SSH tunnel could not be opened or kept open."""


class StoreError(MetalabError):
    """A store locator is invalid or the store cannot be read."""
