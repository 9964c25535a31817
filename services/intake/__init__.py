"""Intake: the public HTTP gateway and the owner of the citizen-facing appeal record."""
