"""Fixtures shared by the webhook tests: a loopback receiver, and loopback URLs allowed."""

from tests.sync.test_webhooks import loopback_allowed, receiver

__all__ = ["loopback_allowed", "receiver"]
