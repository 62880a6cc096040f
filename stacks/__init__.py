"""One stack per lifecycle: network, cluster, config pipeline, services."""

# The selected engine's core first: `constructs` (third-party, so sorted first in each stack
# module) starts the jsii kernel, which must happen after engine.core (see modules/__init__.py).
import engine.core  # noqa: F401
