"""Intake's periodic work is the outbox sweep, run by the shared runtime."""
