"""Homework templates: typed forms, their validation and scoring, and the built-in library."""
