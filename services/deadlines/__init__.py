"""Deadlines: durable timers for answer and first-response deadlines, overdue alerts."""
