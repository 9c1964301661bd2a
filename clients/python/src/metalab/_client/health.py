"""A one-shot grpc.health.v1 check (container health checks, scripts)."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from metalab.errors import ServerUnavailable


def check_health(address: str, service: str = "", timeout: float = 3.0) -> str:
    """``"SERVING"`` when the server at ``address`` says so; else `ServerUnavailable`."""
    request = health_pb2.HealthCheckRequest(service=service)
    with grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(request, timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code().name if isinstance(exc, grpc.Call) else "error"
            raise ServerUnavailable(f"{address}: health check failed ({code})") from None
    status: str = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        raise ServerUnavailable(f"{address}: {service or 'server'} is {status}")
    return status
