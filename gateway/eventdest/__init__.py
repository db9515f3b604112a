"""Event destinations: PutEventStream honoured (docs/event-streams.md).

Every application's event stream configuration names one destination; every worker runs a
:class:`~gateway.eventdest.runner.DestinationRunner` that delivers the app's records from the events stream
(`gateway:events`) to it through a consumer group of its own: Kinesis Data Streams, Firehose, an https webhook or
another Redis stream.
"""
