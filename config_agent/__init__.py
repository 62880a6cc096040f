"""Push-driven configuration and secrets sidecar (see README.md).

Runs next to an app container, serves Secrets Manager secrets and AppConfig configurations on
127.0.0.1 from an in-memory cache, and refreshes them when an event arrives on the service's
SQS queue. No cdktf import anywhere in this package: it ships in its own slim image.
"""

__version__ = "0.1.0"
