"""Pinpoint's REST API (botocore's `pinpoint` 2016-12-01 model) served by aiohttp: see docs/api.md."""
