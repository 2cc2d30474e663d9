"""Contract fuzzing: schemathesis against a live server and the committed OpenAPI document."""
