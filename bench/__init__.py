"""Benchmarks: commands that measure, not tests (``python -m bench ...``, ``make bench``)."""
