"""The typed gRPC client: where metalab's services are, and calls with deadlines and clear errors."""
