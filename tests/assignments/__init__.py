"""Tests for assignments: schedules and occurrence expansion."""
