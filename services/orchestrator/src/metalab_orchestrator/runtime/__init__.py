"""The service runtime both backends use: detached processes, PostgreSQL and containers on
the machine it runs on (this one, or the SLURM job's compute node)."""
