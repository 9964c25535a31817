"""Routing has no periodic work yet; the outbox sweep runs from the shared runtime."""
