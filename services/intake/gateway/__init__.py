"""The gateway's door to the other services: their internal clients and the public routes that
only forward to them (routing's catalogue, media, notify, polls, deadlines' statistics) or keep
operators' working material (response templates).

The appeal aggregate lives beside it in `services/intake/` and never imports this package; the
app (`services/intake/app.py`) wires both. See docs/architecture.md, "Service-to-service HTTP".
"""
