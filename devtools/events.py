"""Sample EventBridge events, exactly as the config pipeline's rules deliver them to SQS.

Shared by the pipeline stack's pattern tests, the config agent's tests, the bench and the demo,
so that both halves agree on one message shape. The rules pass the event through unchanged (no
input transformer) to the service's SNS topic, and the agents' raw-delivery subscriptions pass
it on unchanged: an SQS message body is the whole EventBridge event as JSON.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from config_agent import contract


def _envelope(
    source: str, detail_type: str, region: str, account: str, detail: dict[str, Any]
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": "2026-11-28T12:00:00Z",
        "region": region,
        "resources": [],
        "detail": detail,
    }


def secret_arn(region: str, account: str, name: str, suffix: str = "AbCdEf") -> str:
    """ARN Secrets Manager gives a secret: name plus a random 6-character suffix."""
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}"


def secret_api_call(
    event_name: str, secret_id: str, *, region: str = "us-west-2", account: str = "111111111111"
) -> dict[str, Any]:
    """CloudTrail 'AWS API Call via CloudTrail' for PutSecretValue, UpdateSecret,
    UpdateSecretVersionStage or RotateSecret (contract.SECRET_API_CALLS).

    `secret_id` is whatever the caller passed: a secret name or its ARN.
    """
    request: dict[str, str] = {"secretId": secret_id}
    detail: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventTime": "2026-11-28T12:00:00Z",
        "eventSource": "secretsmanager.amazonaws.com",
        "eventName": event_name,
        "awsRegion": region,
        "requestParameters": request,
        "responseElements": None,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if event_name == "PutSecretValue":
        # CloudTrail redacts the value itself; only identifiers are present.
        request["clientRequestToken"] = str(uuid.uuid4())
    elif event_name == "UpdateSecretVersionStage":
        # A rotation step or an operator promoting a staged version to AWSCURRENT.
        request.update(
            {
                "versionStage": "AWSCURRENT",
                "moveToVersionId": str(uuid.uuid4()),
                "removeFromVersionId": str(uuid.uuid4()),
            }
        )
    return _envelope("aws.secretsmanager", "AWS API Call via CloudTrail", region, account, detail)


def secret_rotation_succeeded(
    secret_arn_value: str, *, region: str = "us-west-2", account: str = "111111111111"
) -> dict[str, Any]:
    """CloudTrail 'AWS Service Event via CloudTrail' emitted when rotation finishes."""
    detail = {
        "eventVersion": "1.09",
        "eventSource": "secretsmanager.amazonaws.com",
        "eventName": "RotationSucceeded",
        "awsRegion": region,
        "requestParameters": None,
        "responseElements": None,
        "additionalEventData": {"SecretId": secret_arn_value},
        "eventType": "AwsServiceEvent",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    return _envelope(
        "aws.secretsmanager", "AWS Service Event via CloudTrail", region, account, detail
    )


def secret_change(
    event_name: str, secret_id: str, *, region: str = "us-west-2", account: str = "111111111111"
) -> dict[str, Any]:
    """The event for any Secrets Manager change the pipeline forwards (by `eventName`).

    Service events name the secret by ARN only, so `secret_id` must be one for them.
    """
    if event_name == "RotationSucceeded":
        return secret_rotation_succeeded(secret_id, region=region, account=account)
    if event_name in contract.SECRET_API_CALLS:
        return secret_api_call(event_name, secret_id, region=region, account=account)
    raise ValueError(f"no sample shape for Secrets Manager event {event_name!r}")


def appconfig_start_deployment(
    application_id: str,
    environment_id: str,
    profile_id: str,
    *,
    deployment_number: int = 1,
    configuration_version: str = "2",
    region: str = "us-west-2",
    account: str = "111111111111",
) -> dict[str, Any]:
    """CloudTrail 'AWS API Call via CloudTrail' for AppConfig StartDeployment."""
    detail = {
        "eventVersion": "1.09",
        "eventSource": "appconfig.amazonaws.com",
        "eventName": "StartDeployment",
        "awsRegion": region,
        "requestParameters": {
            "applicationId": application_id,
            "environmentId": environment_id,
            "configurationProfileId": profile_id,
            "configurationVersion": configuration_version,
            "deploymentStrategyId": "AppConfig.AllAtOnce",
        },
        "responseElements": {
            "applicationId": application_id,
            "environmentId": environment_id,
            "configurationProfileId": profile_id,
            "deploymentNumber": deployment_number,
            "state": "DEPLOYING",
        },
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    return _envelope("aws.appconfig", "AWS API Call via CloudTrail", region, account, detail)


def as_message_body(event: dict[str, Any]) -> str:
    """The SQS message body the agent receives for an event (EventBridge passes it through)."""
    return json.dumps(event)


def sns_envelope(event: dict[str, Any], topic_arn: str) -> str:
    """The SQS body of `event` published to `topic_arn` for a queue without raw delivery."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic_arn,
            "Message": json.dumps(event),
            "Timestamp": "2026-11-28T12:00:00.000Z",
            "SignatureVersion": "1",
            "Signature": "c2ln",
            "SigningCertURL": "https://sns/cert.pem",
            "UnsubscribeURL": "https://sns/?Action=Unsubscribe",
        }
    )
