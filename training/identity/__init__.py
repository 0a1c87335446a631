"""Training: the identity commands and what they run (`python -m training --help` lists them)."""
