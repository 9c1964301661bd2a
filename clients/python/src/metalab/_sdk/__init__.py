"""The experiment SDK: experiments, parameter sources, captures, `run()` and its result."""
