"""One service's Secrets Manager secrets: `/<env>/<service>/<name>`, values set out of band."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from engine.aws.secretsmanager_secret import SecretsmanagerSecret
from modules.checkov_skips import skip_checks
from settings.naming import AGENT_TOKEN_SECRET, config_path, pascal_case
from settings.rules import secret_names_problem, secret_recovery_days_problem

NO_ROTATION_REASON = (
    "values are third-party credentials and tokens set out of band (docs/config-pipeline.md); "
    "no rotation Lambda is deployed here, and a rotation once configured wakes the agent too"
)


@dataclass(frozen=True)
class ServiceSecretsProps:
    """Which secrets a service declares, and how they are encrypted and deleted; the config
    agent's token secret (`AGENT_TOKEN_SECRET`) is always added."""

    env: str
    service: str
    names: tuple[str, ...]
    kms_key_arn: str
    recovery_window_days: int


class ServiceSecrets(Construct):
    """Secret containers only: no aws_secretsmanager_secret_version, so no value in state/JSON.

    Values are written with `aws secretsmanager put-secret-value` (docs/config-pipeline.md);
    until then a task that references the secret fails to start with a clear ECS error.
    """

    def __init__(self, scope: Construct, id_: str, props: ServiceSecretsProps) -> None:
        super().__init__(scope, id_)
        if problem := (
            secret_recovery_days_problem(props.recovery_window_days)
            or secret_names_problem(props.names)
        ):
            raise ValueError(f"{props.service}: {problem}")
        self.prefix = config_path(props.env, props.service) + "/"
        self.arns: dict[str, str] = {}
        """Short name -> ARN of the service's own secrets (not the agent token)."""
        self.secrets: dict[str, SecretsmanagerSecret] = {}
        for name in (*props.names, AGENT_TOKEN_SECRET):
            secret = SecretsmanagerSecret(
                self,
                pascal_case(name),
                name=self.prefix + name,
                kms_key_id=props.kms_key_arn,
                recovery_window_in_days=props.recovery_window_days,
                description=f"{name} of {props.env}/{props.service}; value set out of band",
            )
            skip_checks(secret, {"CKV2_AWS_57": NO_ROTATION_REASON})
            self.secrets[name] = secret
        self.arns = {name: self.secrets[name].arn for name in props.names}
        self.agent_token_arn = self.secrets[AGENT_TOKEN_SECRET].arn
        """The config agent's HTTP token, which ECS injects into the app and the sidecar."""
