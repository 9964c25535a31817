"""Deadlines has only ops endpoints so far; SLA statistics come with the deadlines issue."""
