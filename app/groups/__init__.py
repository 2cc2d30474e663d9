"""Therapy groups: facilitators, dated membership, group homework and peer sharing."""
