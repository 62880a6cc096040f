"""After a deploy, a smoke check a pipeline can gate on: exit 0, or 1 naming each failure.

    python scripts/verify.py dev                 # make verify ENV=dev
    python scripts/verify.py dev --url http://x  # probe another front than the ALB's DNS name

Checks, in the env's region as its `deploy_role`:
- every ECS service is ACTIVE, has one deployment, and runs its desired count of tasks;
- no alarm named after a service (`<env>-<service>-*`: the deployment alarms ECS rolls back
  on, and its queue alarms) is in ALARM;
- the ALB answers each load-balanced service's health check path with 200, over HTTPS at the
  env's domain when `services_settings.https` is set, else over HTTP at the ALB's DNS name;
- the config agent serves: each load-balanced service's `/` answers 200. The sample web app
  reads its configuration and secrets through its agent on every `/` and answers 503 when the
  agent does not; a service of your own should keep that contract.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from scripts.aws_session import AccountMismatch, aws_problem, deploy_session  # noqa: E402
from settings.environments import ENVIRONMENTS, select  # noqa: E402
from settings.naming import PLATFORM, resource_name  # noqa: E402
from settings.validation import SettingsError  # noqa: E402

if TYPE_CHECKING:
    from settings.schema import EnvironmentSettings

HTTP_TIMEOUT_S = 10
ACCESS_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")
"""Not a finding about the env but about the credentials: reported as such, exit 1."""
AGENT_PATH = "/"
"""Below a service's ALB prefix: the app's page that reads through its config agent."""


def service_name(env: str, service: str) -> str:
    """`<env>-<service>`, as modules/ecs_service/service.py names the ECS service (that module
    imports cdktf, which a smoke check should not wait for)."""
    return f"{env}-{service}"


def service_failures(ecs: Any, env: EnvironmentSettings) -> list[str]:
    """One line per service that is missing, inactive, mid-deployment or short of tasks."""
    names = [service_name(env.name, spec.name) for spec in env.services]
    cluster = resource_name(env.name, PLATFORM, "cluster")
    found = ecs.describe_services(cluster=cluster, services=names)
    failures = [
        f"service {f['arn'].rsplit('/', 1)[-1]}: {f.get('reason', 'not found')}"
        for f in found.get("failures", [])
    ]
    for service in found.get("services", []):
        name, state = service["serviceName"], service["status"]
        running, desired = service["runningCount"], service["desiredCount"]
        deployments = service.get("deployments", [])
        if state != "ACTIVE":
            failures.append(f"service {name}: status {state}")
        elif running != desired or len(deployments) != 1:
            failures.append(
                f"service {name}: {running} of {desired} tasks running, "
                f"{len(deployments)} deployment(s): not steady"
            )
    return failures


def alarm_failures(cloudwatch: Any, env: EnvironmentSettings) -> list[str]:
    """One line per alarm of a service that is in ALARM."""
    failures = []
    for spec in env.services:
        pages = cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=f"{service_name(env.name, spec.name)}-", StateValue="ALARM"
        )
        # Filtered again here: AWS applies both filters, moto only the prefix.
        failures += [
            f"alarm {alarm['AlarmName']}: in ALARM ({alarm.get('StateReason', '')})"
            for page in pages
            for alarm in page["MetricAlarms"]
            if alarm["StateValue"] == "ALARM"
        ]
    return failures


def front_url(elbv2: Any, env: EnvironmentSettings) -> str:
    """https://<domain> with HTTPS settings, else http://<the ALB's DNS name>."""
    https = env.services_settings.https
    if https is not None:
        return f"https://{https.domain}"
    alb = elbv2.describe_load_balancers(Names=[resource_name(env.name, PLATFORM, "alb")])
    return f"http://{alb['LoadBalancers'][0]['DNSName']}"


def http_status(url: str) -> int | str:
    """The status code of a GET, or why there is none."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError) as err:
        return f"no answer ({getattr(err, 'reason', err)})"


def http_failures(base: str, env: EnvironmentSettings) -> list[str]:
    """One line per load-balanced service whose health path or agent-backed page is not 200."""
    failures = []
    for spec in env.services:
        if spec.load_balancer is None:
            continue
        probes = [("health", spec.health_check_path or "/")]
        if spec.config_profile is not None or spec.secrets:
            probes.append(("config agent through the app", AGENT_PATH))
        for what, path in probes:
            url = f"{base.rstrip('/')}/{spec.name}{path}"
            status = http_status(url)
            if status != 200:
                failures.append(f"{spec.name} {what}: GET {url} -> {status}")
    return failures


def _checked(what: str, check: Callable[[], list[str]]) -> list[str]:
    """A check's failures; a resource AWS says is missing is one failure, not a stop."""
    try:
        return check()
    except ClientError as err:
        if err.response["Error"]["Code"] in ACCESS_DENIED:
            raise
        return [f"{what}: {err.response['Error']['Code']}: {err.response['Error']['Message']}"]


def failures(session: Any, env: EnvironmentSettings, url: str | None = None) -> list[str]:
    """Every failed check of a deployed env; empty when it is healthy."""
    found = _checked(
        f"cluster {resource_name(env.name, PLATFORM, 'cluster')}",
        lambda: service_failures(session.client("ecs"), env),
    )
    found += _checked("alarms", lambda: alarm_failures(session.client("cloudwatch"), env))
    return found + _checked(
        f"load balancer {resource_name(env.name, PLATFORM, 'alb')}",
        lambda: http_failures(url or front_url(session.client("elbv2"), env), env),
    )


def main(
    argv: list[str] | None = None,
    session: Any = None,
    table: tuple[EnvironmentSettings, ...] = ENVIRONMENTS,
) -> int:
    """`make verify`: every check; exit 1 naming each failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="environment name, e.g. dev")
    parser.add_argument("--url", help="base URL to probe instead of the ALB or domain")
    args = parser.parse_args(argv)
    try:
        (env,) = select(args.env, table)
        found = failures(session or deploy_session(env), env, args.url)
    except (SettingsError, AccountMismatch) as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"verify: {aws_problem(exc)}", file=sys.stderr)
        return 1
    for line in found:
        print(f"verify: FAIL {line}", file=sys.stderr)
    if found:
        print(f"verify: {env.name}: {len(found)} check(s) failed", file=sys.stderr)
        return 1
    print(f"verify: {env.name}: services steady, no alarm in ALARM, health and agent answer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
