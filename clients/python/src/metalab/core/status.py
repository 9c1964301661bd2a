"""Translate gRPC errors into metalab's exception tree at one boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from metalab import errors


@contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """Re-raise ``grpc.aio.AioRpcError`` as the most specific `MetalabError`."""
    try:
        yield
    except grpc.aio.AioRpcError as exc:
        raise translate(exc, what) from exc


def translate(exc: grpc.aio.AioRpcError, what: str) -> errors.MetalabError:
    code = exc.code()
    detail = exc.details() or code.name.lower()
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return errors.AuthError(f"{what}: {detail} (check METALAB_TOKEN / server.token)")
    if code == grpc.StatusCode.UNAVAILABLE:
        return errors.ServerUnavailable(f"{what}: server unavailable ({detail})")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return errors.DeadlineExceeded(f"{what}: deadline exceeded")
    if code == grpc.StatusCode.NOT_FOUND:
        return errors.BundleNotFound(detail)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return errors.BundleRefused(detail)
    if code == grpc.StatusCode.DATA_LOSS:
        return errors.BundleError(detail)
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
        return errors.ConfigError(detail)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return errors.ProvisioningFailed(detail)
    return errors.MetalabError(f"{what}: {detail}")
