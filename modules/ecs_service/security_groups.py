"""Security groups of one ECS service's tasks, and SG-to-SG rules on one TCP port.

awsvpc gives every task its own ENI, so the chain ALB -> tasks -> database and service-to-service
calls are expressed between security groups, never CIDRs. Task SGs have restricted egress, so
each allowed path is an ingress rule on the target and the matching egress rule on the source.
"""

from __future__ import annotations

from constructs import Construct

from engine.aws.security_group import SecurityGroup
from engine.aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from engine.aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from modules.checkov_skips import skip_checks

HTTPS = 443
HTTP = 80
SG_SOURCE_HTTP_REASON = (
    "the source is a security group, not a CIDR: only members of that SG reach port 80 "
    "(checkov's CKV_AWS_260 looks at the port alone)"
)
DATABASE_SG_SKIP = {
    "CKV2_AWS_5": "created here so the service SG chain is complete; the "
    "database (outside this stack) attaches it via the "
    "database_security_group_ids output"
}


def ingress_from(
    scope: Construct, id_: str, security_group_id: str, source_id: str, port: int, description: str
) -> VpcSecurityGroupIngressRule:
    """`port` into `security_group_id` from members of the SG `source_id` only."""
    rule = VpcSecurityGroupIngressRule(
        scope,
        id_,
        security_group_id=security_group_id,
        description=description,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        referenced_security_group_id=source_id,
    )
    if port == HTTP:
        skip_checks(rule, {"CKV_AWS_260": SG_SOURCE_HTTP_REASON})
    return rule


def egress_to(
    scope: Construct, id_: str, security_group_id: str, target_id: str, port: int, description: str
) -> VpcSecurityGroupEgressRule:
    """`port` out of `security_group_id` to members of the SG `target_id` only."""
    return VpcSecurityGroupEgressRule(
        scope,
        id_,
        security_group_id=security_group_id,
        description=description,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        referenced_security_group_id=target_id,
    )


def task_security_group(scope: Construct, name: str, service: str, vpc_id: str) -> SecurityGroup:
    """The task SG: HTTPS out (AWS APIs through NAT or endpoints), nothing in until a source
    is allowed. Its description keeps its original text: changing it would make Terraform
    replace an SG in use by task ENIs."""
    sg = SecurityGroup(
        scope,
        "SecurityGroup",
        name=name,
        vpc_id=vpc_id,
        description=f"{service} tasks: ingress only from the ALB",
        tags={"Name": name},
    )
    VpcSecurityGroupEgressRule(
        scope,
        "EgressHttps",
        security_group_id=sg.id,
        description="HTTPS to AWS APIs (ECR, SQS, AppConfig, Secrets Manager, Logs)",
        ip_protocol="tcp",
        from_port=HTTPS,
        to_port=HTTPS,
        cidr_ipv4="0.0.0.0/0",
    )
    return sg


def database_security_group(
    scope: Construct, name: str, service: str, vpc_id: str, tasks_id: str, port: int
) -> SecurityGroup:
    """A SG for the service's database (created elsewhere) admitting `port` from its tasks."""
    db = SecurityGroup(
        scope,
        "DatabaseSecurityGroup",
        name=name,
        vpc_id=vpc_id,
        description=f"{service} database: ingress only from its tasks",
        tags={"Name": name},
    )
    ingress_from(
        scope,
        "DatabaseIngressFromService",
        db.id,
        tasks_id,
        port,
        f"port {port} from {service} tasks only",
    )
    egress_to(scope, "EgressToDatabase", tasks_id, db.id, port, f"to the {service} database")
    skip_checks(db, DATABASE_SG_SKIP)
    return db
