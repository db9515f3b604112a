"""Delivery channels: one module (or package) per provider protocol, all behind :class:`base.Channel`."""
