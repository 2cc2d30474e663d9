"""Read model: a client's homework record as FHIR R4 resources (pure mapping, no I/O)."""
