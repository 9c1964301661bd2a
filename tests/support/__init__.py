"""The test kit: real components (sshd, SLURM, PostgreSQL, Chromium) and free ports."""
