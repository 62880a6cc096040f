"""What every environment stack shares: name, AWS provider, remote state."""

from __future__ import annotations

from cdktf import TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from constructs import Construct

from modules.state_backend import configure_backend
from settings.environments import EnvironmentSettings
from settings.naming import stack_name


class EnvironmentStack(TerraformStack):
    """A stack named `<kind>-<env>`, pinned to the env's account and region."""

    kind: str = ""

    def __init__(self, scope: Construct, env: EnvironmentSettings) -> None:
        super().__init__(scope, stack_name(self.kind, env.name))
        self.env = env
        AwsProvider(self, "aws", region=env.region, allowed_account_ids=[env.account_id],
                    default_tags=[AwsProviderDefaultTags(tags=env.default_tags)])
        configure_backend(self, env, self.kind)
