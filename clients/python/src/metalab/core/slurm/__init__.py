"""The one SLURM command layer: argv builders, quoting and parsers of scheduler output.

Pure (no I/O, no clock, no environment reads); the client's SLURM executor and the
orchestrator's SLURM backend both build and read their scheduler commands here. Job names are
never parsed out of a line split on ``|``: a hostile name may contain one.
"""
