"""Gateway: a self-hosted successor to Amazon Pinpoint's engagement and delivery features."""

__version__ = "0.1.0"
