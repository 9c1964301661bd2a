"""The one table between metalab's exception tree and gRPC status codes.

Every servicer aborts through `abort` and the client translates through `mapped_errors`, so
an error crosses the wire as the same class it was raised as: the server sends its status code
and names the class in the ``metalab-error`` trailing metadata; the client rebuilds that class,
or, for a status with no name (gRPC itself, an interceptor), the one class that owns the code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import grpc

from metalab.core import errors

ERROR_KEY = "metalab-error"

# Most specific class first: the first entry the error is an instance of gives its status.
ERROR_STATUS: tuple[tuple[type[errors.MetalabError], grpc.StatusCode], ...] = (
    (errors.AuthError, grpc.StatusCode.UNAUTHENTICATED),
    (errors.ServerUnavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.ConfigError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.BundleNotFound, grpc.StatusCode.NOT_FOUND),
    (errors.BundleRefused, grpc.StatusCode.PERMISSION_DENIED),
    (errors.BundleError, grpc.StatusCode.DATA_LOSS),
    (errors.BundleConflict, grpc.StatusCode.ABORTED),
    (errors.ProvisioningFailed, grpc.StatusCode.RESOURCE_EXHAUSTED),
    # A failed sbatch/squeue or SSH tunnel is no reason to think the metalab server is down.
    (errors.SchedulerError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.TunnelError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.StoreError, grpc.StatusCode.FAILED_PRECONDITION),
)

_BY_NAME = {kind.__name__: kind for kind, _ in ERROR_STATUS} | {
    errors.UsageError.__name__: errors.UsageError
}
_USES = Counter(code for _, code in ERROR_STATUS)
_BY_CODE = {code: kind for kind, code in ERROR_STATUS if _USES[code] == 1}


def status_of(exc: errors.MetalabError) -> grpc.StatusCode:
    """The status code ``exc`` crosses the wire with (UNKNOWN for a class not in the table)."""
    for kind, code in ERROR_STATUS:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.UNKNOWN


async def abort(
    context: grpc.aio.ServicerContext, exc: errors.MetalabError, message: str
) -> NoReturn:
    """End the call with ``exc``'s status and class; ``message`` is the one-line detail."""
    await context.abort(
        status_of(exc), message, trailing_metadata=((ERROR_KEY, type(exc).__name__),)
    )
    raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises


def error_of(
    code: grpc.StatusCode, detail: str, name: str | None, what: str
) -> errors.MetalabError:
    """The metalab error for a failed call ``what`` (``name``: the class the server sent)."""
    kind = _BY_NAME.get(name or "") or _BY_CODE.get(code)
    if kind is errors.AuthError:
        return errors.AuthError(f"{what}: {detail} (check METALAB_TOKEN / server.token)")
    if kind is errors.ServerUnavailable:
        return errors.ServerUnavailable(f"{what}: server unavailable ({detail})")
    if kind is errors.DeadlineExceeded:
        return errors.DeadlineExceeded(f"{what}: deadline exceeded")
    if kind is errors.SchedulerError:
        return errors.SchedulerError.remote(detail)
    if kind is not None:
        return kind(detail)
    return errors.MetalabError(f"{what}: {detail}")


def translate(exc: grpc.aio.AioRpcError, what: str) -> errors.MetalabError:
    """``exc`` as the metalab error the server raised (or the closest one)."""
    code = exc.code()
    detail = exc.details() or code.name.lower()
    metadata = exc.trailing_metadata() or ()
    name = next((str(v) for k, v in metadata if k == ERROR_KEY), None)
    return error_of(code, detail, name, what)


@contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """Re-raise ``grpc.aio.AioRpcError`` as the most specific `MetalabError`."""
    try:
        yield
    except grpc.aio.AioRpcError as exc:
        raise translate(exc, what) from exc
