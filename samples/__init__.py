"""Sample workloads the default services run: `samples.web` (HTTP) and `samples.worker` (SQS).

Each is its own image (see its Dockerfile); both read configuration and secrets through the
config-agent sidecar's HTTP API. Stdlib only, apart from boto3 in the worker; no cdktf import.
"""
