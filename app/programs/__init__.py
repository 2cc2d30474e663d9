"""Programs: sequenced homework released step by step."""
