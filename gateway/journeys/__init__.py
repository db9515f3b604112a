"""Journeys (issue 13): the definition layer. validate.py checks a WriteJourneyRequest without I/O, store.py keeps
journeys in Redis, state.py holds Pinpoint's state rules, cli.py is `gateway journey`. The runtime (participants,
timers, sends) is not built yet: see docs/journeys.md."""
