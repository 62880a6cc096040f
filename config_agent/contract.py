"""What the config pipeline (stacks) and the agent agree on: one stdlib-only module both import.

The stacks write the agent's environment, name its queues and route events to it; the agent
reads that environment, creates those queues and acts on those events. Every name or limit that
both sides must spell alike lives here, so they cannot drift apart (tests/config_agent/
test_contract.py feeds every event the synthesized rules match into a real agent).
Stdlib only, no imports at all: the agent image has no cdktf, the stacks no boto3.
"""

# --- ports and headers -------------------------------------------------------------------------
PORT = 2772
"""Main port: the AWS AppConfig Agent's default, serving configurations and secrets."""
SECRETS_PORT = 2773
"""The AWS Secrets Manager Agent's default port; the agent serves the Secrets Manager API there
too, so apps written for that agent work unchanged."""
TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"
"""The header both AWS agents read the SSRF token from."""
VAULT_TOKEN_HEADER = "X-Vault-Token"
"""Also accepted by the Secrets Manager Agent (for clients written against Vault's agent)."""
AWS_TOKEN_VARIABLE = "AWS_TOKEN"
"""The Secrets Manager Agent's token variable: the token, or `file://<path>` to read it from."""

# --- environment variables (the task definition writes them, config_agent.settings reads them) --
PREFIX = "CONFIG_AGENT_"
TOPIC_ARN = PREFIX + "TOPIC_ARN"
QUEUE_URL = PREFIX + "QUEUE_URL"
QUEUE_PREFIX = PREFIX + "QUEUE_PREFIX"
DLQ_ARN = PREFIX + "DLQ_ARN"
MAX_RECEIVE_COUNT = PREFIX + "MAX_RECEIVE_COUNT"
QUEUE_KMS_KEY = PREFIX + "QUEUE_KMS_KEY"
TOKEN = PREFIX + "TOKEN"
TOKEN_FILE = PREFIX + "TOKEN_FILE"
SECRET_IDS = PREFIX + "SECRET_IDS"
APPCONFIG_APPLICATION = PREFIX + "APPCONFIG_APPLICATION"
APPCONFIG_ENVIRONMENT = PREFIX + "APPCONFIG_ENVIRONMENT"
APPCONFIG_PROFILE = PREFIX + "APPCONFIG_PROFILE"
PORT_VARIABLE = PREFIX + "PORT"
OUTPUT_DIR_VARIABLE = PREFIX + "OUTPUT_DIR"

OUTPUT_DIR = "/run/config-agent"
"""Where the agent writes files when the task has a config-files volume; the image pre-creates
it owned by the agent's user (config_agent/Dockerfile)."""

# --- events: what the pipeline's EventBridge rules forward and the agent acts on --------------
SECRETS_SOURCE = "aws.secretsmanager"
APPCONFIG_SOURCE = "aws.appconfig"
SECRETS_EVENT_SOURCE = "secretsmanager.amazonaws.com"
APPCONFIG_EVENT_SOURCE = "appconfig.amazonaws.com"
API_CALL = "AWS API Call via CloudTrail"
SERVICE_EVENT = "AWS Service Event via CloudTrail"
CLOUDTRAIL_DETAIL_TYPES = (API_CALL, SERVICE_EVENT)
SECRET_API_CALLS = ("PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage", "RotateSecret")
"""API calls after which a stage of the secret (AWSCURRENT among them) may point at a new value;
CloudTrail names the secret in `requestParameters.secretId` (name or ARN)."""
SECRET_SERVICE_EVENTS = ("RotationSucceeded",)
"""Service events; CloudTrail names the secret in `additionalEventData.SecretId` (an ARN)."""
SECRET_CHANGE_EVENTS = SECRET_API_CALLS + SECRET_SERVICE_EVENTS
DEPLOYMENT_EVENTS = ("StartDeployment",)

# --- the agents' own queues (fan-out mode) --------------------------------------------------
AGENT_QUEUE_PURPOSE = "cfg"
"""Agents name their queues `<env>-<service>_cfg_<task id>`: short, since SQS stops at 80."""
SQS_NAME_MAX = 80
"""SQS queue names: at most 80 characters of A-Z a-z 0-9 _ -."""
ECS_TASK_ID_LENGTH = 32
"""An ECS task id (the last part of its ARN) is 32 hex characters."""
QUEUE_PREFIX_MAX = SQS_NAME_MAX - ECS_TASK_ID_LENGTH
"""The longest queue-name prefix that still leaves room for a task id."""
AGENT_QUEUE_DELIMITER = "_"
"""Joins `<env>-<service>` to the purpose and the task id: `dev-web_cfg_<task id>`. Service
and env names cannot contain it (settings/naming.py: a-z 0-9 -), so the task-role pattern
`dev-web_cfg_*` cannot match the queues (or DLQ) of a service named `web-cfg`."""
QUEUE_TAG_AGENT = "config-agent"
"""Tag on every agent queue (value "true"): the reaper deletes only queues that carry it."""
QUEUE_TAG_TASK_ARN = "ecs-task-arn"
"""Tag naming the task that owns the queue: the reaper deletes a queue only when this ARN is a
task of its own cluster that ECS reports STOPPED (or MISSING after the grace period)."""


def agent_queue_prefix(env: str, service: str) -> str:
    """`<env>-<service>_cfg_`: the prefix of every agent queue of one service."""
    d = AGENT_QUEUE_DELIMITER
    return f"{env}-{service}{d}{AGENT_QUEUE_PURPOSE}{d}"


# --- the safety net around the agents' own queues -------------------------------------------
SAFETY_REFRESH_SECONDS = PREFIX + "SAFETY_REFRESH_SECONDS"
"""Refetch everything this often even without events (the task definitions set it)."""
SUBSCRIPTION_CHECK_SECONDS = PREFIX + "SUBSCRIPTION_CHECK_SECONDS"
"""How often the agent checks that its queue is still subscribed (resubscribes if not)."""
CATCHUP_REFRESH_SECONDS = PREFIX + "CATCHUP_REFRESH_SECONDS"
"""One refresh of everything this long after (re)subscribing: SNS drops deliveries that fail
while a new subscription or queue policy propagates."""

# --- the orphan-queue reaper (a Lambda function in the config stack) ------------------------
REAPER_CLUSTER_ARN = "REAPER_CLUSTER_ARN"
"""The only cluster whose tasks' queues the reaper may delete."""
REAPER_QUEUE_PREFIXES = "REAPER_QUEUE_PREFIXES"
"""Comma-separated agent-queue prefixes (one per service) the sweep lists."""
REAPER_TOPIC_ARNS = "REAPER_TOPIC_ARNS"
"""Comma-separated service topics whose dangling SQS subscriptions the sweep removes."""
REAPER_GRACE_SECONDS = "REAPER_GRACE_SECONDS"
"""A queue younger than this, or whose task ECS has reported MISSING for less than this, is
kept: ECS reads are eventually consistent and a task may not be visible yet."""
