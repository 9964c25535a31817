"""Routing: moderates appeals and decides which organisation must answer."""
