"""Training: the emotion commands and what they run (`python -m training --help` lists them)."""
