"""Segments: Pinpoint's segment definitions, a versioned segment store, import/export jobs, and resolution by a
compiled filter over a columnar index of each application's endpoints.

Campaigns and journeys use :class:`gateway.segments.resolver.SegmentResolver` (`resolve`, `count`, `sample`).
"""
