"""Training, evaluation and export. Imports from ``edge``; never imported by it."""
