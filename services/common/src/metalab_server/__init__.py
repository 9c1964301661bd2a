"""Shared wiring for metalab's gRPC servers: auth, health, reflection, deadlines, shutdown."""
