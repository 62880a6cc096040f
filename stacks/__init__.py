"""One stack per lifecycle: network, cluster, config pipeline, services."""
