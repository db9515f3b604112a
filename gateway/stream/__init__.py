"""The ingest stream: entry codec, consumer-group reader, retry schedule and dead letters."""
