"""Local runtime: detached processes and PostgreSQL on this machine."""
