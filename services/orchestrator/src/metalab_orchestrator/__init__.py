"""metalab orchestrator service."""
