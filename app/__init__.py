"""Therapy Homework API: a headless REST API for the homework therapists give their clients."""

__version__ = "0.1.0"
