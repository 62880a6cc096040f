"""The AWS CDK v2 comparison app of the synth benchmark: the project's environments and stacks
(network, cluster, config, registry, services per env) built with aws-cdk-lib's L2 constructs.

`python bench/awscdk/app.py` writes to $CDK_OUTDIR (unset: a temporary directory, aws-cdk-lib's
default) with no AWS access and no CDK CLI: explicit accounts, regions and AZs, no lookups.
aws-cdk-lib checks every template with its built-in CloudFormation validation plugin by default
(validation-report.json); `CDK_VALIDATION=false`, aws-cdk-lib's own switch, turns that off.
`make bench` times both beside our synth.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def build_app():
    """An App holding every stack of every environment of the settings table."""
    import aws_cdk as cdk

    from bench.awscdk.cluster_stack import ClusterStack
    from bench.awscdk.config_stack import ConfigStack
    from bench.awscdk.envs import plans
    from bench.awscdk.network_stack import NetworkStack
    from bench.awscdk.registry_stack import RegistryStack
    from bench.awscdk.services_stack import ServicesStack

    app = cdk.App()
    for env in plans():
        network = NetworkStack(app, env)
        cluster = ClusterStack(app, env, network)
        config = ConfigStack(app, env)
        registry = RegistryStack(app, env)
        ServicesStack(app, env, network, cluster, config, registry)
    return app


if __name__ == "__main__":
    build_app().synth()
