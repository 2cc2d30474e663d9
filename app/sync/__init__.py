"""Change feed and webhooks: the event outbox read by integrations, signed and retried deliveries."""
