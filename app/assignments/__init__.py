"""Assignments: homework given to a client, its schedule, and the occurrences that schedule yields."""
