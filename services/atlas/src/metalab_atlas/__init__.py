"""Atlas: the experiment dashboard that `metalab services up` starts."""
