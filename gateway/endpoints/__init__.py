"""Endpoints and users of an application, stored in Redis under the application's hash tag."""

from gateway.endpoints.rules import EndpointValidationError

__all__ = ["EndpointValidationError"]
