"""Client-side configuration: find, merge, validate and resolve `.metalab.toml`."""
