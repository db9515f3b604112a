"""Endpoints and users of an application, stored in Redis under the application's hash tag."""
