"""Services stack: task definitions, services, autoscaling, ALB, SG chain, discovery, IAM."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from modules.service_config import secret_variable
from modules.task_definition import AGENT_CONTAINER
from settings.capacity import GRAVITON, ON_DEMAND, SPOT, service_architecture, strategies
from settings.naming import log_group_name
from settings.services import LoadBalancerSpec, ServiceSpec
from tests.synth_helpers import SynthOutput, remote_output
from tests.tables import SAMPLE as ENVIRONMENTS

ENVS = {e.name: e for e in ENVIRONMENTS}
ENV_SERVICES = [(e.name, s.name) for e in ENVIRONMENTS for s in e.services]
DATA_PLANE = ("sqs:", "sns:", "secretsmanager:", "appconfig:", "kms:", "ecs:")


def _stack(synth, env):
    return synth.stack(f"services-{env}")


def _by_name(stack, rtype, name, key="name"):
    """(logical id, config) of the resource of `rtype` whose `key` equals `name`."""
    found = [(k, v) for k, v in stack.resources(rtype).items() if v.get(key) == name]
    assert len(found) == 1, f"{stack.name}: {rtype} named {name!r}: {found}"
    return found[0]


def _service(stack, env, service):
    return _by_name(stack, "aws_ecs_service", f"{env}-{service}")


def _containers(stack, env, service):
    _, task = _by_name(stack, "aws_ecs_task_definition", f"{env}-{service}", key="family")
    app, agent = json.loads(task["container_definitions"])
    return task, app, agent


def _env_vars(container):
    return {e["name"]: e["value"] for e in container["environment"]}


def _policy(stack, role_ref):
    docs = [
        json.loads(p["policy"])
        for p in stack.resources("aws_iam_role_policy").values()
        if p["role"] == role_ref
    ]
    return [s for d in docs for s in d["Statement"]]


def _config_ref(synth, env, rtype, name, attr, key="name"):
    config = synth.stack(f"config-{env}")
    logical, _ = _by_name(config, rtype, name, key=key)
    return config.ref(rtype, logical, attr)


def _key_arn(synth, env):
    config = synth.stack(f"config-{env}")
    return config.ref("aws_kms_key", config.one("aws_kms_key")[0], "arn")


@pytest.mark.parametrize(("env", "service"), ENV_SERVICES)
def test_task_definition_runs_app_and_sidecar_logging_to_the_created_group(synth, env, service):
    settings = ENVS[env]
    stack = _stack(synth, env)
    task, app, agent = _containers(stack, env, service)
    assert task["network_mode"] == "awsvpc"
    assert task["requires_compatibilities"] == ["EC2"]
    assert (app["name"], agent["name"]) == (service, AGENT_CONTAINER)
    assert app["essential"] is True and agent["essential"] is True
    assert app["dependsOn"] == [{"containerName": AGENT_CONTAINER, "condition": "HEALTHY"}]
    assert agent["healthCheck"]["command"][0] == "CMD"
    log_id, log_group = _by_name(stack, "aws_cloudwatch_log_group", log_group_name(env, service))
    assert log_group["retention_in_days"] == settings.services_settings.log_retention_days
    for container in (app, agent):
        options = container["logConfiguration"]["options"]
        assert container["logConfiguration"]["logDriver"] == "awslogs"
        assert options["awslogs-group"] == stack.ref("aws_cloudwatch_log_group", log_id, "name")
        assert options["awslogs-region"] == settings.region
    assert (
        app["logConfiguration"]["options"]["awslogs-stream-prefix"],
        agent["logConfiguration"]["options"]["awslogs-stream-prefix"],
    ) == (service, AGENT_CONTAINER)
    roles = {
        v["name"]: stack.ref("aws_iam_role", k, "arn")
        for k, v in stack.resources("aws_iam_role").items()
    }
    assert task["execution_role_arn"] == roles[f"{env}-{service}-execution"]
    assert task["task_role_arn"] == roles[f"{env}-{service}-task"]


@pytest.mark.parametrize(("env", "service"), ENV_SERVICES)
def test_container_variables_reference_the_pipelines_real_resources(synth, env, service):
    stack = _stack(synth, env)
    spec = ENVS[env].service(service)
    _, app, agent = _containers(stack, env, service)
    agent_env, app_env = _env_vars(agent), _env_vars(app)
    resolve = lambda value: remote_output(synth, stack, value)  # noqa: E731
    # Fan-out: the agent's own queue is subscribed to the service topic, redrives to the DLQ.
    assert "CONFIG_AGENT_QUEUE_URL" not in agent_env
    assert resolve(agent_env["CONFIG_AGENT_TOPIC_ARN"]) == _config_ref(
        synth, env, "aws_sns_topic", f"{env}-{service}-config-events", "arn"
    )
    assert resolve(agent_env["CONFIG_AGENT_DLQ_ARN"]) == _config_ref(
        synth, env, "aws_sqs_queue", f"{env}-{service}-config-events-dlq", "arn"
    )
    assert resolve(agent_env["CONFIG_AGENT_QUEUE_KMS_KEY"]) == _key_arn(synth, env)
    assert agent_env["CONFIG_AGENT_QUEUE_PREFIX"] == f"{env}-{service}_cfg_"
    assert len(agent_env["CONFIG_AGENT_QUEUE_PREFIX"]) + 32 <= 80
    assert agent_env["CONFIG_AGENT_MAX_RECEIVE_COUNT"] == str(
        ENVS[env].pipeline.dlq_max_receive_count
    )
    secret_arns = {
        name: _config_ref(
            synth, env, "aws_secretsmanager_secret", f"/{env}/{service}/{name}", "arn"
        )
        for name in spec.secrets
    }
    # Comma-joined remote-state references, one per declared secret.
    listed = agent_env["CONFIG_AGENT_SECRET_IDS"].split(",")
    assert sorted(resolve(v) for v in listed) == sorted(secret_arns.values())
    for name, arn in secret_arns.items():
        assert resolve(app_env[secret_variable(name)]) == arn
    token = _config_ref(
        synth, env, "aws_secretsmanager_secret", f"/{env}/{service}/config-agent-token", "arn"
    )
    for container in (app, agent):
        (secret,) = container["secrets"]
        assert secret["name"] == "CONFIG_AGENT_TOKEN"
        assert resolve(secret["valueFrom"]) == token
    profile = _config_ref(
        synth,
        env,
        "aws_appconfig_configuration_profile",
        f"{service}-{spec.config_profile.name}",
        "configuration_profile_id",
    )
    assert resolve(agent_env["CONFIG_AGENT_APPCONFIG_PROFILE"]) == profile
    assert resolve(app_env["APPCONFIG_PROFILE_ID"]) == profile
    assert resolve(agent_env["CONFIG_AGENT_APPCONFIG_APPLICATION"]).startswith(
        "${aws_appconfig_application."
    )
    assert resolve(agent_env["CONFIG_AGENT_APPCONFIG_ENVIRONMENT"]).startswith(
        "${aws_appconfig_environment."
    )
    assert agent_env["CONFIG_AGENT_PORT"] == "2772"
    assert app_env["CONFIG_AGENT_URL"] == "http://127.0.0.1:2772"
    assert agent_env["AWS_REGION"] == ENVS[env].region
    for key, value in spec.environment.items():
        assert app_env[key] == value
    if spec.work_queue:
        queue_id, _ = _by_name(stack, "aws_sqs_queue", f"{env}-{service}-jobs")
        assert app_env["WORK_QUEUE_URL"] == stack.ref("aws_sqs_queue", queue_id, "url")


@pytest.mark.parametrize(("env", "service"), ENV_SERVICES)
def test_service_uses_the_cluster_capacity_provider_in_private_subnets(synth, env, service):
    settings = ENVS[env]
    stack = _stack(synth, env)
    cluster = synth.stack(f"cluster-{env}")
    network = synth.stack(f"network-{env}")
    spec = settings.service(service)
    _, svc = _service(stack, env, service)
    cluster_id, _ = cluster.one("aws_ecs_cluster")
    # Base on the on-demand group, the rest over the groups of the service's architecture.
    providers = {
        cluster.ref("aws_ecs_capacity_provider", k, "name"): v["name"]
        for k, v in cluster.resources("aws_ecs_capacity_provider").items()
    }
    names = {
        ON_DEMAND: f"{env}-platform-ec2",
        SPOT: f"{env}-platform-ec2-spot",
        GRAVITON: f"{env}-platform-ec2-arm64",
    }
    expected = strategies(settings.cluster)[service_architecture(spec, settings.cluster)]
    assert [
        (providers[remote_output(synth, stack, s["capacity_provider"])], s["base"], s["weight"])
        for s in svc["capacity_provider_strategy"]
    ] == [(names[item.group], item.base, item.weight) for item in expected]
    if settings.cluster.spot is not None:
        assert len(svc["capacity_provider_strategy"]) == 2, "on-demand and Spot"
    assert remote_output(synth, stack, svc["cluster"]) == cluster.ref(
        "aws_ecs_cluster", cluster_id, "arn"
    )
    assert "launch_type" not in svc, "a capacity provider strategy excludes a launch type"
    if spec.deployment.shifts_traffic:  # the circuit breaker is for rolling updates only
        assert "deployment_circuit_breaker" not in svc
    else:
        assert svc["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
    assert (svc["deployment_minimum_healthy_percent"], svc["deployment_maximum_percent"]) == (
        100,
        200,
    )
    assert svc["ordered_placement_strategy"] == [
        {"type": "spread", "field": "attribute:ecs.availability-zone"},
        {"type": "binpack", "field": "memory"},
    ]
    assert svc["enable_execute_command"] is settings.services_settings.ecs_exec_enabled
    # ECS swaps a shifting service's target groups (tests/stacks/test_deployment_safety.py).
    assert svc["lifecycle"]["ignore_changes"] == ["desired_count"] + (
        ["load_balancer"] if spec.deployment.shifts_traffic else []
    )
    assert svc["desired_count"] == spec.desired_count
    net = svc["network_configuration"]
    assert net["assign_public_ip"] is False
    private = sorted(
        network.ref("aws_subnet", k, "id")
        for k, v in network.resources("aws_subnet").items()
        if v["tags"]["Tier"] == "private"
    )
    assert sorted(remote_output(synth, stack, s) for s in net["subnets"]) == private
    sg_id, _ = _by_name(stack, "aws_security_group", f"{env}-{service}-tasks")
    assert net["security_groups"] == [stack.ref("aws_security_group", sg_id, "id")]


@pytest.mark.parametrize(("env", "service"), ENV_SERVICES)
def test_autoscaling_target_and_policies_address_the_service(synth, env, service):
    stack = _stack(synth, env)
    spec = ENVS[env].service(service)
    cluster = synth.stack(f"cluster-{env}")
    _, ecs_cluster = cluster.one("aws_ecs_cluster")
    svc_id, _ = _service(stack, env, service)
    expected = f"service/{ecs_cluster['name']}/{stack.ref('aws_ecs_service', svc_id, 'name')}"
    target_id, target = _by_name(stack, "aws_appautoscaling_target", expected, key="resource_id")
    assert target["scalable_dimension"] == "ecs:service:DesiredCount"
    assert (target["min_capacity"], target["max_capacity"]) == (
        spec.scaling.min_tasks,
        spec.scaling.max_tasks,
    )
    policies = [
        p
        for p in stack.resources("aws_appautoscaling_policy").values()
        if p["resource_id"] == stack.ref("aws_appautoscaling_target", target_id, "resource_id")
    ]
    assert len(policies) >= 2
    for policy in policies:
        assert policy["scalable_dimension"] == stack.ref(
            "aws_appautoscaling_target", target_id, "scalable_dimension"
        )
    tracked = {
        p["name"].removeprefix(f"{env}-{service}-"): p[
            "target_tracking_scaling_policy_configuration"
        ]["target_value"]
        for p in policies
    }
    expected_tracking = {
        "cpu": spec.scaling.cpu_target_percent,
        "memory": spec.scaling.memory_target_percent,
    }
    if spec.scaling.queue_scaling:
        expected_tracking["backlog"] = spec.scaling.backlog_per_task
    if spec.scaling.requests_per_target:
        expected_tracking["requests"] = spec.scaling.requests_per_target
    assert tracked == expected_tracking
    assert all(p["policy_type"] == "TargetTrackingScaling" for p in policies)


@pytest.mark.parametrize("env", ENVS)
def test_worker_tracks_backlog_per_running_task(synth, env):
    """Visible messages divided by running tasks (metric math), not an absolute depth."""
    stack = _stack(synth, env)
    spec = ENVS[env].service("worker")
    assert spec.scaling.queue_scaling and spec.work_queue
    queue_id, queue = _by_name(stack, "aws_sqs_queue", f"{env}-worker-jobs")
    dlq_id, _ = _by_name(stack, "aws_sqs_queue", f"{env}-worker-jobs-dlq")
    assert json.loads(queue["redrive_policy"])["deadLetterTargetArn"] == stack.ref(
        "aws_sqs_queue", dlq_id, "arn"
    )
    assert queue.get("sqs_managed_sse_enabled") or queue.get("kms_master_key_id")
    assert not [
        a
        for a in stack.resources("aws_cloudwatch_metric_alarm").values()
        if "ApproximateNumberOfMessagesVisible" in json.dumps(a)
    ], "no depth-threshold alarms"
    _, policy = _by_name(stack, "aws_appautoscaling_policy", f"{env}-worker-backlog")
    config = policy["target_tracking_scaling_policy_configuration"]
    assert config["target_value"] == spec.scaling.backlog_per_task
    metrics = {m["id"]: m for m in config["customized_metric_specification"]["metrics"]}
    assert [m["id"] for m in metrics.values() if m["return_data"]] == ["backlog"]
    assert metrics["backlog"]["expression"] == "visible / running"
    visible = metrics["visible"]["metric_stat"]["metric"]
    assert (visible["namespace"], visible["metric_name"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert visible["dimensions"] == [
        {"name": "QueueName", "value": stack.ref("aws_sqs_queue", queue_id, "name")}
    ]
    running = metrics["running"]["metric_stat"]["metric"]
    assert (running["namespace"], running["metric_name"]) == (
        "ECS/ContainerInsights",
        "RunningTaskCount",
    )
    svc_id, _ = _service(stack, env, "worker")
    _, cluster = synth.stack(f"cluster-{env}").one("aws_ecs_cluster")
    assert running["dimensions"] == [
        {"name": "ClusterName", "value": cluster["name"]},
        {"name": "ServiceName", "value": stack.ref("aws_ecs_service", svc_id, "name")},
    ]
    # The worker consumes its own job queue too.
    role_id, _ = _by_name(stack, "aws_iam_role", f"{env}-worker-task")
    statements = _policy(stack, stack.ref("aws_iam_role", role_id, "id"))
    sqs = [s for s in statements if any(a.startswith("sqs:") for a in s["Action"])]
    assert stack.ref("aws_sqs_queue", queue_id, "arn") in {r for s in sqs for r in s["Resource"]}


@pytest.mark.parametrize("env", ENVS)
def test_security_group_chain_references_groups_not_cidrs(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    web = settings.service("web")
    ingress = list(stack.resources("aws_vpc_security_group_ingress_rule").values())
    egress = list(stack.resources("aws_vpc_security_group_egress_rule").values())
    alb_sg_id, _ = _by_name(stack, "aws_security_group", f"{env}-platform-alb")
    alb_sg = stack.ref("aws_security_group", alb_sg_id, "id")
    web_sg = stack.ref(
        "aws_security_group", _by_name(stack, "aws_security_group", f"{env}-web-tasks")[0], "id"
    )
    db_sg = stack.ref(
        "aws_security_group", _by_name(stack, "aws_security_group", f"{env}-web-db")[0], "id"
    )
    # ALB: only listener ports, only from the allowed CIDRs.
    alb_in = [r for r in ingress if r["security_group_id"] == alb_sg]
    https = web.load_balancer.certificate_arn or settings.services_settings.https
    ports = {80, 443} if https else {80}
    assert {r["from_port"] for r in alb_in} == ports
    assert {r["cidr_ipv4"] for r in alb_in} == set(web.load_balancer.allowed_cidrs)
    (alb_out,) = [r for r in egress if r["security_group_id"] == alb_sg]
    assert alb_out["referenced_security_group_id"] == web_sg
    assert alb_out["from_port"] == alb_out["to_port"] == web.container_port
    # Service: the container port from the ALB SG and its declared callers' SGs, nothing else.
    task_sgs = {_task_sg(stack, env, s.name) for s in settings.services}
    web_in = [r for r in ingress if r["security_group_id"] == web_sg]
    assert {r["referenced_security_group_id"] for r in web_in} == {
        alb_sg,
        *(_task_sg(stack, env, c) for c in web.allow_from),
    }
    assert all(r["from_port"] == r["to_port"] == web.container_port for r in web_in)
    assert all("cidr_ipv4" not in r for r in web_in)
    # Database: its port from the service SG only.
    (db_in,) = [r for r in ingress if r["security_group_id"] == db_sg]
    assert db_in["referenced_security_group_id"] == web_sg
    assert db_in["from_port"] == db_in["to_port"] == web.database_port
    # Services without a load balancer or declared callers admit nothing at all.
    worker_sg = _task_sg(stack, env, "worker")
    assert not settings.service("worker").allow_from
    assert not [r for r in ingress if r["security_group_id"] == worker_sg]
    # Task SGs reach nothing but AWS APIs (443 anywhere), their DB, and declared callees.
    for r in egress:
        if r["security_group_id"] in task_sgs and "cidr_ipv4" in r:
            assert (r["cidr_ipv4"], r["from_port"], r["to_port"]) == ("0.0.0.0/0", 443, 443)
    # Every CIDR-based ingress is on the ALB.
    assert all(r["security_group_id"] == alb_sg for r in ingress if "cidr_ipv4" in r)


def _task_sg(stack, env, service):
    """The `${aws_security_group.X.id}` reference of one service's task SG."""
    return stack.ref(
        "aws_security_group",
        _by_name(stack, "aws_security_group", f"{env}-{service}-tasks")[0],
        "id",
    )


def _service_to_service(stack, env, services):
    """{(callee, caller, port)} from ingress rules and {(callee, caller, port)} from egress
    rules, over rules whose both ends are task SGs."""
    by_sg = {_task_sg(stack, env, s.name): s.name for s in services}
    ingress = {
        (by_sg[r["security_group_id"]], by_sg[r["referenced_security_group_id"]], r["from_port"])
        for r in stack.resources("aws_vpc_security_group_ingress_rule").values()
        if r["security_group_id"] in by_sg and r.get("referenced_security_group_id") in by_sg
    }
    egress = {
        (by_sg[r["referenced_security_group_id"]], by_sg[r["security_group_id"]], r["from_port"])
        for r in stack.resources("aws_vpc_security_group_egress_rule").values()
        if r["security_group_id"] in by_sg and r.get("referenced_security_group_id") in by_sg
    }
    return ingress, egress


def _declared(services):
    return {(s.name, caller, s.container_port) for s in services for caller in s.allow_from}


@pytest.mark.parametrize("env", ENVS)
def test_worker_reaches_web_on_its_container_port_sg_to_sg(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    web = settings.service("web")
    assert web.allow_from == ("worker",), "the shipped table exercises allow_from in every env"
    web_sg, worker_sg = _task_sg(stack, env, "web"), _task_sg(stack, env, "worker")
    (rule,) = [
        r
        for r in stack.resources("aws_vpc_security_group_ingress_rule").values()
        if r["security_group_id"] == web_sg and r.get("referenced_security_group_id") == worker_sg
    ]
    assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == (
        "tcp",
        web.container_port,
        web.container_port,
    )
    assert not {"cidr_ipv4", "cidr_ipv6", "prefix_list_id"} & set(rule)
    (out,) = [
        r
        for r in stack.resources("aws_vpc_security_group_egress_rule").values()
        if r["security_group_id"] == worker_sg and r.get("referenced_security_group_id") == web_sg
    ]
    assert (out["ip_protocol"], out["from_port"], out["to_port"]) == (
        "tcp",
        web.container_port,
        web.container_port,
    )
    assert not {"cidr_ipv4", "cidr_ipv6", "prefix_list_id"} & set(out)
    # Exactly the declared pairs, nothing the other way round (web may not call worker).
    ingress, egress = _service_to_service(stack, env, settings.services)
    assert (
        ingress == egress == _declared(settings.services) == {("web", "worker", web.container_port)}
    )
    # Cloud Map gives the caller the name to use: web.<env>.internal.
    assert web.service_discovery


@pytest.mark.parametrize(("env", "service"), ENV_SERVICES)
def test_roles_are_scoped_to_the_services_own_resources(synth, env, service):
    settings = ENVS[env]
    stack = _stack(synth, env)
    spec = settings.service(service)
    task_role_id, task_role = _by_name(stack, "aws_iam_role", f"{env}-{service}-task")
    exec_role_id, _ = _by_name(stack, "aws_iam_role", f"{env}-{service}-execution")
    assert json.loads(task_role["assume_role_policy"])["Statement"][0]["Principal"] == {
        "Service": "ecs-tasks.amazonaws.com"
    }
    task = _policy(stack, stack.ref("aws_iam_role", task_role_id, "id"))
    execution = _policy(stack, stack.ref("aws_iam_role", exec_role_id, "id"))
    for st in task + execution:
        if any(a.startswith(DATA_PLANE) for a in st["Action"]):
            assert "*" not in st["Resource"], st
            assert all(r.startswith(("${", "arn:")) for r in st["Resource"]), st
    resolve = lambda value: remote_output(synth, stack, value)  # noqa: E731
    by_sid = {st["Sid"]: st for st in task}
    assert len(by_sid) == len(task), "unique Sids"
    region, account = settings.region, settings.account_id
    agent_queues = f"arn:aws:sqs:{region}:{account}:{env}-{service}_cfg_*"
    topic = _config_ref(synth, env, "aws_sns_topic", f"{env}-{service}-config-events", "arn")
    # Only the prefix of this service's agent queues; nothing of the old shared queue.
    sqs = [st for st in task if any(a.startswith("sqs:") for a in st["Action"])]
    own = by_sid["OwnAgentQueues"]
    assert own["Resource"] == [agent_queues]
    assert sorted(own["Action"]) == sorted(
        f"sqs:{a}"
        for a in (
            "CreateQueue",
            "SetQueueAttributes",
            "TagQueue",
            "GetQueueUrl",
            "ReceiveMessage",
            "DeleteMessage",
            "ChangeMessageVisibility",
        )
    )
    assert "sqs:SendMessage" not in {a for st in sqs for a in st["Action"]}
    jobs = {
        stack.ref("aws_sqs_queue", k, "arn")
        for k, v in stack.resources("aws_sqs_queue").items()
        if v["name"] == f"{env}-{service}-jobs"
    }
    assert {r for st in sqs for r in st["Resource"]} == {agent_queues, *jobs}
    # SNS: subscribe only SQS endpoints of this service's prefix, to this service's topic.
    sns = [st for st in task if any(a.startswith("sns:") for a in st["Action"])]
    assert {a for st in sns for a in st["Action"]} == {
        "sns:Subscribe",
        "sns:ListSubscriptionsByTopic",
    }
    subscribe = by_sid["SubscribeAgentQueues"]
    assert [resolve(r) for r in subscribe["Resource"]] == [topic]
    assert subscribe["Condition"] == {
        "StringEquals": {"sns:Protocol": "sqs"},
        "StringLike": {"sns:Endpoint": agent_queues},
    }
    assert [resolve(r) for r in by_sid["ListOwnTopic"]["Resource"]] == [topic]
    # Removing queues and subscriptions, and asking ECS about tasks, is the reaper's job.
    assert not {"sns:Unsubscribe", "sqs:DeleteQueue", "ecs:DescribeTasks"} & {
        a for st in task for a in st["Action"]
    }
    # KMS: the env key only, for secrets, config and the agent's SSE-KMS queue.
    kms = [
        st
        for st in task
        if any(a.startswith("kms:") for a in st["Action"]) and not st["Sid"].startswith("EcsExec")
    ]
    assert {a for st in kms for a in st["Action"]} == {"kms:Decrypt"}
    assert {resolve(r) for st in kms for r in st["Resource"]} == {_key_arn(synth, env)}
    assert all("kms:ViaService" in st["Condition"]["StringEquals"] for st in kms)
    assert by_sid["ReadOwnSecrets"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert sorted(resolve(r) for r in by_sid["ReadOwnSecrets"]["Resource"]) == sorted(
        _config_ref(synth, env, "aws_secretsmanager_secret", f"/{env}/{service}/{n}", "arn")
        for n in spec.secrets
    )
    (profile_arn,) = by_sid["ReadOwnConfigProfile"]["Resource"]
    assert profile_arn.startswith(
        f"arn:aws:appconfig:{settings.region}:{settings.account_id}:application/${{"
    )
    assert "/configuration/${" in profile_arn
    exec_sts = [st for st in task if st["Sid"] == "EcsExec"]
    assert bool(exec_sts) is settings.services_settings.ecs_exec_enabled
    # Execution role: the managed policy plus only the secret ECS injects.
    attachments = [
        a["policy_arn"]
        for a in stack.resources("aws_iam_role_policy_attachment").values()
        if a["role"] == stack.ref("aws_iam_role", exec_role_id, "name")
    ]
    assert attachments == ["arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"]
    reads = [st for st in execution if "secretsmanager:GetSecretValue" in st["Action"]]
    (read,) = reads
    assert [resolve(r) for r in read["Resource"]] == [
        _config_ref(
            synth, env, "aws_secretsmanager_secret", f"/{env}/{service}/config-agent-token", "arn"
        )
    ]
    (decrypt,) = [st for st in execution if st["Action"] == ["kms:Decrypt"]]
    condition = decrypt["Condition"]["StringEquals"]
    assert condition["kms:ViaService"] == f"secretsmanager.{settings.region}.amazonaws.com"
    # Only the token secret's data key (Secrets Manager's encryption context is its ARN).
    assert [resolve(condition["kms:EncryptionContext:SecretARN"])] == [
        resolve(r) for r in read["Resource"]
    ]


@pytest.mark.parametrize("env", ENVS)
def test_alb_is_public_hardened_and_forwards_to_the_web_target_group(synth, env):
    settings = ENVS[env]
    network = synth.stack(f"network-{env}")
    stack = _stack(synth, env)
    lb_id, lb = stack.one("aws_lb")
    assert lb["internal"] is False and lb["load_balancer_type"] == "application"
    assert lb["drop_invalid_header_fields"] is True
    assert lb["enable_deletion_protection"] is settings.services_settings.alb_deletion_protection
    public = sorted(
        network.ref("aws_subnet", k, "id")
        for k, v in network.resources("aws_subnet").items()
        if v["tags"]["Tier"] == "public"
    )
    assert sorted(remote_output(synth, stack, s) for s in lb["subnets"]) == public
    tg_id, _tg = _by_name(stack, "aws_lb_target_group", f"{env}-web")
    groups = stack.resources("aws_lb_target_group").values()
    assert len(groups) == (2 if settings.service("web").deployment.shifts_traffic else 1)
    for group in groups:
        assert group["target_type"] == "ip", "awsvpc tasks register by IP"
        assert group["health_check"]["path"] == settings.service("web").health_check_path
    listeners = {v["protocol"]: v for v in stack.resources("aws_lb_listener").values()}
    https = settings.services_settings.https is not None
    assert set(listeners) == ({"HTTP", "HTTPS"} if https else {"HTTP"})
    listener = listeners["HTTPS" if https else "HTTP"]
    assert listener["load_balancer_arn"] == stack.ref("aws_lb", lb_id, "arn")
    assert listener["default_action"] == [
        {"type": "forward", "target_group_arn": stack.ref("aws_lb_target_group", tg_id, "arn")}
    ]
    _, web = _service(stack, env, "web")
    (attachment,) = web["load_balancer"]
    assert {k: v for k, v in attachment.items() if k != "advanced_configuration"} == {
        "target_group_arn": stack.ref("aws_lb_target_group", tg_id, "arn"),
        "container_name": "web",
        "container_port": 8080,
    }
    if settings.services_settings.alb_access_logs:
        assert lb["access_logs"]["enabled"] is True
        (bucket,) = [
            v
            for k, v in stack.resources("aws_s3_bucket").items()
            if stack.ref("aws_s3_bucket", k, "bucket") == lb["access_logs"]["bucket"]
        ]
        assert bucket["bucket"] == f"{env}-platform-alb-logs-{settings.account_id}"
        (sse,) = stack.resources("aws_s3_bucket_server_side_encryption_configuration").values()
        assert sse["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == (
            "AES256"
        )
        (policy,) = stack.resources("aws_s3_bucket_policy").values()
        principals = [s.get("Principal") for s in json.loads(policy["policy"])["Statement"]]
        assert {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"} in principals
    else:
        assert "access_logs" not in lb
        assert stack.resources("aws_s3_bucket") == {}


@pytest.mark.parametrize("env", ENVS)
def test_web_registers_in_the_envs_private_namespace(synth, env):
    if ENVS[env].services_settings.service_connect:
        pytest.skip("Service Connect replaces the DNS records (tests/stacks/test_service_connect)")
    stack = _stack(synth, env)
    ns_id, ns = stack.one("aws_service_discovery_private_dns_namespace")
    assert ns["name"] == f"{env}.internal"
    assert remote_output(synth, stack, ns["vpc"]).startswith("${aws_vpc.")
    registry_id, registry = stack.one("aws_service_discovery_service")
    assert registry["name"] == "web"
    assert registry["dns_config"]["namespace_id"] == stack.ref(
        "aws_service_discovery_private_dns_namespace", ns_id, "id"
    )
    assert registry["dns_config"]["dns_records"] == [{"ttl": 10, "type": "A"}]
    _, web = _service(stack, env, "web")
    assert web["service_registries"] == {
        "registry_arn": stack.ref("aws_service_discovery_service", registry_id, "arn")
    }
    _, worker = _service(stack, env, "worker")
    assert "service_registries" not in worker


@pytest.mark.parametrize("env", ENVS)
def test_outputs_sidecar_image_and_counts(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    outputs = stack.doc["output"]
    lb_id, _ = stack.one("aws_lb")
    assert outputs["alb_dns_name"]["value"] == stack.ref("aws_lb", lb_id, "dns_name")
    assert sorted(outputs["service_names"]["value"]) == sorted(
        stack.ref("aws_ecs_service", k, "name") for k in stack.resources("aws_ecs_service")
    )
    assert sorted(outputs["log_group_names"]["value"]) == sorted(
        stack.ref("aws_cloudwatch_log_group", k, "name")
        for k, v in stack.resources("aws_cloudwatch_log_group").items()
        if not v["name"].startswith("aws-waf-logs-")
    )
    assert not stack.resources("aws_ecr_repository"), "repositories live in the registry stack"
    counts = stack.counts()
    n = len(settings.services)
    waf = 1 if settings.services_settings.waf else 0  # the web ACL's own log group
    for rtype in ("aws_ecs_task_definition", "aws_ecs_service", "aws_appautoscaling_target"):
        assert counts[rtype] == n, rtype
    assert counts["aws_cloudwatch_log_group"] == n + waf
    assert counts["aws_appautoscaling_policy"] >= 2 * n


# --- services are data: a new spec adds resources, no code --------------------------------

EXTRA = ServiceSpec(
    name="api",
    dockerfile="api/Dockerfile",
    cpu=256,
    memory=512,
    container_port=9000,
    health_check_path="/ready",
    load_balancer=LoadBalancerSpec(
        certificate_arn="arn:aws:acm:us-west-2:111111111111:certificate/abc"
    ),
    service_discovery=True,
    secrets=("token",),
    work_queue=True,
    allow_from=("web", "worker"),
)


def extended_services():
    """dev's services plus EXTRA: what the `extended` fixture synthesizes."""
    return (*ENVS["dev"].services, EXTRA)


@pytest.fixture(scope="module")
def extended(synth, tmp_path_factory) -> SynthOutput:
    """dev with a third service added to its spec tuple, synthesized by main.build_app."""
    from main import build_app

    env = replace(ENVS["dev"], services=extended_services())
    outdir = tmp_path_factory.mktemp("extended")
    build_app([env], str(outdir)).synth()
    return SynthOutput(outdir)


def test_adding_a_service_spec_adds_its_resources(synth, extended):
    before = _stack(synth, "dev").counts()
    stack = extended.stack("services-dev")
    after = stack.counts()
    for rtype in (
        "aws_ecs_task_definition",
        "aws_ecs_service",
        "aws_appautoscaling_target",
        "aws_cloudwatch_log_group",
        "aws_lb_target_group",
        "aws_service_discovery_service",
    ):
        assert after[rtype] == before[rtype] + 1, rtype
    assert after["aws_iam_role"] == before["aws_iam_role"] + 2
    assert after["aws_appautoscaling_policy"] == before["aws_appautoscaling_policy"] + 2
    assert after["aws_sqs_queue"] == before["aws_sqs_queue"] + 2  # jobs + DLQ
    # Ingress: 443 on the ALB (certificate), api's port from the ALB and from each declared
    # caller; egress: api's own HTTPS, the ALB and each caller to api's port.
    callers = len(EXTRA.allow_from)
    for rtype in ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"):
        assert after[rtype] == before[rtype] + 2 + callers, rtype
    services = extended_services()
    ingress, egress = _service_to_service(stack, "dev", services)
    assert ingress == egress == _declared(services)
    assert {(callee, caller) for callee, caller, _ in ingress} == {
        ("web", "worker"),
        ("api", "web"),
        ("api", "worker"),
    }
    # A service built from a Dockerfile gets its own immutable ECR repository in the
    # registry stack, and pulls from it.
    registry = extended.stack("registry-dev")
    repo_id, _ = _by_name(registry, "aws_ecr_repository", "api")
    _, app, _ = _containers(stack, "dev", "api")
    repo_url, tag = app["image"].rsplit(":", 1)
    (tag_id,) = [
        k for k, v in stack.data("aws_ssm_parameter").items() if v["name"] == "/dev/api/image-tag"
    ]
    assert tag == stack.ref("data.aws_ssm_parameter", tag_id, "insecure_value")
    assert remote_output(extended, stack, repo_url) == registry.ref(
        "aws_ecr_repository", repo_id, "repository_url"
    )
    # The second load-balanced service gets a path rule; a certificate switches on HTTPS.
    listeners = {v["protocol"]: (k, v) for k, v in stack.resources("aws_lb_listener").items()}
    assert set(listeners) == {"HTTP", "HTTPS"}
    https_id, https = listeners["HTTPS"]
    assert https["certificate_arn"] == EXTRA.load_balancer.certificate_arn
    assert https["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
    assert listeners["HTTP"][1]["default_action"][0]["redirect"]["protocol"] == "HTTPS"
    (rule,) = stack.resources("aws_lb_listener_rule").values()
    assert rule["listener_arn"] == stack.ref("aws_lb_listener", https_id, "arn")
    assert rule["condition"][0]["path_pattern"]["values"] == ["/api", "/api/*"]
    api_tg, _ = _by_name(stack, "aws_lb_target_group", "dev-api")
    assert rule["action"][0]["target_group_arn"] == stack.ref("aws_lb_target_group", api_tg, "arn")
    alb_sg = stack.ref(
        "aws_security_group", _by_name(stack, "aws_security_group", "dev-platform-alb")[0], "id"
    )
    assert {
        r["from_port"]
        for r in stack.resources("aws_vpc_security_group_ingress_rule").values()
        if r["security_group_id"] == alb_sg
    } == {80, 443}
    # The pipeline made the new service's config resources; the sidecar points at them.
    _, _, agent = _containers(stack, "dev", "api")
    agent_env = _env_vars(agent)
    assert remote_output(extended, stack, agent_env["CONFIG_AGENT_TOPIC_ARN"]) == (
        _config_ref(extended, "dev", "aws_sns_topic", "dev-api-config-events", "arn")
    )
    assert remote_output(extended, stack, agent_env["CONFIG_AGENT_DLQ_ARN"]) == (
        _config_ref(extended, "dev", "aws_sqs_queue", "dev-api-config-events-dlq", "arn")
    )
    assert agent_env["CONFIG_AGENT_QUEUE_PREFIX"] == "dev-api_cfg_"


@pytest.mark.parametrize(
    ("env", "service"),
    [(e.name, s.name) for e in ENVIRONMENTS for s in e.services if s.scaling.requests_per_target],
)
def test_request_count_tracking_names_the_alb_and_the_target_group(synth, env, service):
    """One target group: ALBRequestCountPerTarget. A traffic-shifting service's production
    traffic may sit in either of its two groups, so it tracks both over its running tasks."""
    stack = _stack(synth, env)
    lb_id, _ = stack.one("aws_lb")
    lb_suffix = stack.ref("aws_lb", lb_id, "arn_suffix")
    groups = [
        stack.ref(
            "aws_lb_target_group", _by_name(stack, "aws_lb_target_group", name)[0], "arn_suffix"
        )
        for name in (f"{env}-{service}", f"{env}-{service}-alt")
        if any(g["name"] == name for g in stack.resources("aws_lb_target_group").values())
    ]
    _, policy = _by_name(stack, "aws_appautoscaling_policy", f"{env}-{service}-requests")
    config = policy["target_tracking_scaling_policy_configuration"]
    assert config["target_value"] == ENVS[env].service(service).scaling.requests_per_target
    if not ENVS[env].service(service).deployment.shifts_traffic:
        assert config["predefined_metric_specification"] == {
            "predefined_metric_type": "ALBRequestCountPerTarget",
            "resource_label": f"{lb_suffix}/{groups[0]}",
        }
        return
    assert len(groups) == 2 and "predefined_metric_specification" not in config
    metrics = {m["id"]: m for m in config["customized_metric_specification"]["metrics"]}
    assert [k for k, m in metrics.items() if m["return_data"]] == ["per_task"]
    assert metrics["per_task"]["expression"] == (
        "(FILL(requests0, 0) + FILL(requests1, 0)) / running"
    )
    for i, group in enumerate(groups):
        metric = metrics[f"requests{i}"]["metric_stat"]["metric"]
        assert (metric["namespace"], metric["metric_name"]) == (
            "AWS/ApplicationELB",
            "RequestCount",
        )
        assert metric["dimensions"] == [
            {"name": "LoadBalancer", "value": lb_suffix},
            {"name": "TargetGroup", "value": group},
        ]
    assert metrics["running"]["metric_stat"]["metric"]["metric_name"] == "RunningTaskCount"


@pytest.mark.parametrize(("env", "service"), ENV_SERVICES)
def test_off_hours_lower_the_minimum_and_working_hours_restore_it(synth, env, service):
    off = ENVS[env].services_settings.off_hours
    stack = _stack(synth, env)
    actions = {
        a["name"]: a
        for a in stack.resources("aws_appautoscaling_scheduled_action").values()
        if a["name"].startswith(f"{env}-{service}-")
    }
    if off is None:
        assert actions == {}
        return
    scaling = ENVS[env].service(service).scaling
    night = actions[f"{env}-{service}-off-hours"]
    day = actions[f"{env}-{service}-working-hours"]
    floor = 1 if scaling.queue_scaling else 0
    minimum = min(max(off.min_tasks, floor), scaling.min_tasks)
    # A minimum of 0 also lowers the maximum: target tracking alone never gets to 0 tasks.
    assert night["scalable_target_action"] == {
        "min_capacity": str(minimum),
        "max_capacity": str(scaling.max_tasks if minimum else 0),
    }
    assert day["scalable_target_action"] == {
        "min_capacity": str(scaling.min_tasks),
        "max_capacity": str(scaling.max_tasks),
    }
    assert (night["schedule"], day["schedule"]) == (off.scale_in_at, off.scale_out_at)
    assert night["timezone"] == day["timezone"] == off.timezone
    assert night["resource_id"].startswith("${aws_appautoscaling_target.")


@pytest.mark.parametrize(("env", "service"), ENV_SERVICES)
def test_task_definitions_declare_the_cpu_architecture_of_their_capacity(synth, env, service):
    settings = ENVS[env]
    task, _, _ = _containers(_stack(synth, env), env, service)
    arch = service_architecture(settings.service(service), settings.cluster)
    assert task["runtime_platform"] == {
        "cpu_architecture": {"x86_64": "X86_64", "arm64": "ARM64"}[arch],
        "operating_system_family": "LINUX",
    }


def test_an_arm64_service_runs_only_on_the_graviton_capacity(tmp_path):
    """Graviton group with the arm64 AMI; the arm64 service's strategy names it alone."""
    from main import build_app
    from settings.schema import GravitonCapacity
    from settings.validation import validate

    dev = ENVS["dev"]
    env = validate(
        replace(
            dev,
            cluster=replace(dev.cluster, graviton=GravitonCapacity("m7g.large", 0, 2)),
            services=(dev.services[0], dev.services[1].with_(architecture="arm64")),
        )
    )
    build_app([env], str(tmp_path)).synth()
    out = SynthOutput(tmp_path)
    cluster, services = out.stack("cluster-dev"), out.stack("services-dev")
    arm = [
        (k, v)
        for k, v in cluster.resources("aws_ecs_capacity_provider").items()
        if v["name"] == "dev-platform-ec2-arm64"
    ]
    assert len(arm) == 1
    arm_lt = next(
        v
        for v in cluster.resources("aws_launch_template").values()
        if v["name"] == "dev-platform-ecs-arm64"
    )
    assert arm_lt["instance_type"] == "m7g.large"
    assert cluster.data("aws_ssm_parameter")[arm_lt["image_id"].split(".")[2]]["name"] == (
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id"
    )
    _, worker = _service(services, "dev", "worker")
    (item,) = worker["capacity_provider_strategy"]
    assert remote_output(out, services, item["capacity_provider"]) == cluster.ref(
        "aws_ecs_capacity_provider", arm[0][0], "name"
    )
    task, _, _ = _containers(services, "dev", "worker")
    assert task["runtime_platform"]["cpu_architecture"] == "ARM64"
    _, web = _service(services, "dev", "web")
    assert "arm64" not in str(
        [
            remote_output(out, services, s["capacity_provider"])
            for s in web["capacity_provider_strategy"]
        ]
    )
    # The cluster's default strategy stays on the x86 groups.
    _, assoc = cluster.one("aws_ecs_cluster_capacity_providers")
    assert len(assoc["capacity_providers"]) == 2
    assert [s["capacity_provider"] for s in assoc["default_capacity_provider_strategy"]] == [
        cluster.ref("aws_ecs_capacity_provider", k, "name")
        for k, v in cluster.resources("aws_ecs_capacity_provider").items()
        if v["name"] == "dev-platform-ec2"
    ]
