"""The `metalab` command line."""
