"""Edge face and emotion analytics service."""

__version__ = "0.1.0"
