"""The typed gRPC client: where the services are; calls with deadlines and clear errors."""

import os as _os

# gRPC's fork handlers crash children forked (not vforked) while gRPC threads run, e.g.
# subprocesses started with user= or start_new_session=; metalab never forks with gRPC state.
_os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
