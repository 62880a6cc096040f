"""What the task definitions must agree on with the sample images (stdlib only, no cdktf).

The infrastructure (ServiceSpec, health checks) and the Dockerfiles use these values; the
tests hold the Dockerfiles to them.
"""

from __future__ import annotations

WEB_PORT = 8080
"""Container port the web sample listens on by default (env `PORT`)."""
HEALTH_PATH = "/health"
"""Liveness of the web app itself: answers 200 without calling the agent."""
WEB_HEALTH_CHECK_COMMAND = (
    "CMD",
    "python",
    "-c",
    (
        "import os,sys,urllib.request as u; sys.exit(0 if u.urlopen("
        f"'http://127.0.0.1:%s{HEALTH_PATH}' % os.environ.get('PORT', '{WEB_PORT}'), "
        "timeout=2).status == 200 else 1)"
    ),
)
"""ECS `healthCheck.command` (slim images have no curl); also the image's HEALTHCHECK."""

WORKER_HEARTBEAT_FILE = "/run/worker/heartbeat"
"""Default heartbeat path; its directory is owned by the image's user (see the Dockerfile)."""
WORKER_HEALTH_CHECK_COMMAND = ("CMD", "python", "-m", "samples.worker", "--check-health")
"""ECS `healthCheck.command`: exits 1 when the worker loop has not beaten recently."""

APP_UID = 10001
"""Non-root uid of both images: the config agent's, so `config_files_path` files (0600, owned
by the agent) are readable too."""
