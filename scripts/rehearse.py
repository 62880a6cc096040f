"""make rehearse ENV=dev: plan and apply every stack of an env against moto, then destroy.

Usage: python scripts/rehearse.py ENV [cdktf.out]

The real CLI and the hashicorp/aws that `make provider` built run over a COPY of each
synthesized stack (cdktf.out/rehearse/<stack>-<env>), in deploy order, against a moto server on
loopback that answers as the env's account. What points them at moto is rehearsal-only and never
in the synthesized stacks: `AWS_ENDPOINT_URL` in the CLI's environment (every service the
provider calls), and an override file plus a `-backend-config` file holding fake credentials,
path-style S3 and the S3/STS endpoints. The state stays in S3 with the stacks' own backend
settings (bucket, key, encrypt, use_lockfile, allowed_account_ids), in moto's S3. Before the
services stack, the secret values and images a first deploy needs are seeded as README "Plan and
deploy" tells a user (put-secret-value; the image tags `make images` pushes). Resource types
moto cannot take as synthesized are EMULATOR_GAPS, each with its reason: a gap with stand-in
settings gets them in the override; any other gap type, and every resource whose values refer to
one, is left out of the copy and printed; nothing else is, so a new type moto lacks fails the
apply loudly. moto runs behind devtools.moto_cbor, which lets it answer CloudWatch in the
provider's protocol (RPC v2 CBOR).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from main import STACKS_IN_DEPLOY_ORDER  # noqa: E402
from scripts import go_tools, terraform_stacks  # noqa: E402
from scripts.go_tools import Failure  # noqa: E402
from settings.environments import select  # noqa: E402
from settings.images import built_images  # noqa: E402
from settings.providers import AWS_PROVIDER_VERSION  # noqa: E402
from settings.schema import EnvironmentSettings, S3State  # noqa: E402

ClientFactory = Callable[[str], Any]
"""A boto3 client for a service name, aimed at the emulator."""


def _lacks(service: str, operation: str, /, **params: Any) -> Callable[[ClientFactory], bool]:
    """A probe: moto answers the API call with no route (404) or NotImplementedError (500)."""

    def probe(client: ClientFactory) -> bool:
        try:
            getattr(client(service), operation)(**params)
        except ClientError as error:
            return error.response["ResponseMetadata"]["HTTPStatusCode"] in (404, 500)
        return False

    return probe


def _drops_redrive_allow_policy(client: ClientFactory) -> bool:
    """A probe: moto accepts SetQueueAttributes(RedriveAllowPolicy) but never returns it."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="rehearsal-gap-probe")["QueueUrl"]
    policy = json.dumps({"redrivePermission": "allowAll"})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedriveAllowPolicy": policy})
    kept = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    sqs.delete_queue(QueueUrl=url)
    return "RedriveAllowPolicy" not in kept


def _keeps_unprotected_instances(client: ClientFactory) -> bool:
    """A probe: after capacity 0 and scale-in protection lifted (what hashicorp/aws's drainGroup
    does before deleting a group), moto still holds the instance, where AWS scales it in."""
    asg, name = client("autoscaling"), "rehearsal-gap-probe"
    asg.create_launch_configuration(
        LaunchConfigurationName=name, ImageId="ami-12c6146b", InstanceType="t3.micro"
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchConfigurationName=name,
        MinSize=1,
        MaxSize=1,
        AvailabilityZones=["us-west-2a"],
        NewInstancesProtectedFromScaleIn=True,
    )
    asg.update_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=0, DesiredCapacity=0
    )

    def instances() -> list[str]:
        (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ]
        return [i["InstanceId"] for i in group["Instances"]]

    asg.set_instance_protection(
        AutoScalingGroupName=name, InstanceIds=instances(), ProtectedFromScaleIn=False
    )
    kept = bool(instances())
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    asg.delete_launch_configuration(LaunchConfigurationName=name)
    return kept


@dataclass(frozen=True)
class EmulatorGap:
    """A resource type moto cannot take as synthesized: why, a probe that is true while moto
    still has the gap (a test runs it, so a gap moto closes is noticed), and either nothing
    (the type is skipped) or the `settings` the rehearsal's override gives each of its
    resources instead. `opaque`: others only quote its attributes (ids in an event pattern, an
    env var), so a plain `${type.name.attribute}` of a skipped one becomes STAND_IN rather
    than skipping the resource that quotes it."""

    reason: str
    probe: Callable[[ClientFactory], bool]
    settings: Mapping[str, Any] = field(default_factory=dict)
    opaque: bool = False


_APPCONFIG = "moto 5.2.5 implements AppConfig applications, profiles and hosted versions only"
_NO_ID = "abc1234"  # an AppConfig-shaped id: the probe fails on the missing API, not the input
EMULATOR_GAPS: dict[str, EmulatorGap] = {
    "aws_appconfig_environment": EmulatorGap(
        f"{_APPCONFIG}: no CreateEnvironment",
        _lacks("appconfig", "create_environment", ApplicationId=_NO_ID, Name="rehearsal"),
        opaque=True,
    ),
    "aws_appconfig_deployment_strategy": EmulatorGap(
        f"{_APPCONFIG}: no CreateDeploymentStrategy",
        _lacks(
            "appconfig",
            "create_deployment_strategy",
            Name="rehearsal",
            DeploymentDurationInMinutes=0,
            GrowthFactor=100.0,
        ),
        opaque=True,
    ),
    "aws_appconfig_deployment": EmulatorGap(
        f"{_APPCONFIG}: no StartDeployment",
        _lacks(
            "appconfig",
            "start_deployment",
            ApplicationId=_NO_ID,
            EnvironmentId=_NO_ID,
            DeploymentStrategyId=_NO_ID,
            ConfigurationProfileId=_NO_ID,
            ConfigurationVersion="1",
        ),
        opaque=True,
    ),
    "aws_ecs_account_setting_default": EmulatorGap(
        "moto 5.2.5 ECS has no PutAccountSettingDefault (NotImplementedError)",
        _lacks("ecs", "put_account_setting_default", name="awsvpcTrunking", value="enabled"),
    ),
    "aws_sqs_queue_redrive_allow_policy": EmulatorGap(
        "moto 5.2.5 SQS drops RedriveAllowPolicy, and the provider waits for it to read back",
        _drops_redrive_allow_policy,
    ),
    "aws_ecs_service": EmulatorGap(
        "moto 5.2.5 ECS has no ListServiceDeployments, which the provider polls for "
        "wait_for_steady_state: the service is created, without the wait",
        _lacks("ecs", "list_service_deployments", cluster="rehearsal", service="rehearsal"),
        {"wait_for_steady_state": False},
    ),
    "aws_autoscaling_group": EmulatorGap(
        "moto 5.2.5 never scales in an instance whose scale-in protection is lifted, so the "
        "provider's drain before DeleteAutoScalingGroup (internal/service/autoscaling/group.go "
        "drainGroup) would wait out its 10 min timeout: created with force_delete",
        _keeps_unprotected_instances,
        {"force_delete": True},
    ),
    "aws_appautoscaling_target": EmulatorGap(
        "moto 5.2.5 Application Auto Scaling has no ListTagsForResource, which the provider "
        "calls after creating a tagged target",
        _lacks(
            "application-autoscaling",
            "list_tags_for_resource",
            ResourceARN="arn:aws:application-autoscaling:us-west-2:111111111111:"
            "scalable-target/rehearsal",
        ),
    ),
}
"""Every resource type the rehearsal does not create as synthesized, in one place
(tests/test_rehearse.py)."""

STAND_IN = "rehearsal0"
"""The value of an output whose resource the rehearsal skipped (an AppConfig-id-shaped word),
so that later stacks still plan; printed with the skipped list."""

ACCESS_KEY = "rehearsal-access-key"  # fake: moto answers as MOTO_ACCOUNT_ID whatever the key
REHEARSE_DIR = ROOT / "cdktf.out" / "rehearse"
OVERRIDE_FILE = "rehearsal_override.tf.json"
BACKEND_FILE = "rehearsal.s3.tfbackend"


def _addresses(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{`type.name`: body} of every resource."""
    return {
        f"{rtype}.{name}": body
        for rtype, block in doc.get("resource", {}).items()
        for name, body in block.items()
    }


def _refers_to(value: Any, addresses: Iterable[str]) -> str | None:
    """The first of `addresses` that `value` refers to, if any."""
    text = json.dumps(value)
    return next((a for a in addresses if re.search(rf"\b{re.escape(a)}\b", text)), None)


def _quotes_of(addresses: Iterable[str]) -> re.Pattern[str]:
    """`${address.attribute}` of any of `addresses` (a plain quote, no expression around it)."""
    names = "|".join(re.escape(a) for a in addresses) or r"(?!)"
    return re.compile(rf"\$\{{(?:{names})\.[A-Za-z_][\w-]*\}}")


def _opaque(skipped: Iterable[str]) -> re.Pattern[str]:
    """Quotes of the skipped resources whose gap is `opaque`."""
    return _quotes_of(
        a for a in skipped if (gap := EMULATOR_GAPS.get(a.split(".")[0])) and gap.opaque
    )


def skipped_addresses(doc: dict[str, Any]) -> dict[str, str]:
    """{`type.name`: why} of every resource left out: those of an EMULATOR_GAPS type that has
    no stand-in settings and, transitively, every resource whose values refer to one other
    than by an opaque quote (rehearsal_doc puts STAND_IN there; a `depends_on` alone orders,
    it does not need the resource: rehearsal_doc drops it)."""
    bodies = {
        address: json.dumps({k: v for k, v in body.items() if k != "depends_on"})
        for address, body in _addresses(doc).items()
    }
    skipped = {}
    for address in bodies:
        gap = EMULATOR_GAPS.get(address.split(".")[0])
        if gap is not None and not gap.settings:
            skipped[address] = gap.reason
    opaque = _opaque(skipped)
    grew = True
    while grew:
        grew = False
        for address, body in bodies.items():
            cause = None if address in skipped else _refers_to(opaque.sub(STAND_IN, body), skipped)
            if cause is not None:
                skipped[address] = f"refers to {cause}"
                grew = True
    return skipped


def stood_in(doc: dict[str, Any], skipped: Mapping[str, str]) -> dict[str, list[str]]:
    """{`type.name`: the quotes in it that rehearsal_doc replaces by STAND_IN}."""
    opaque = _opaque(skipped)
    found = {
        address: sorted(set(opaque.findall(json.dumps(body))))
        for address, body in _addresses(doc).items()
        if address not in skipped
    }
    return {address: quotes for address, quotes in found.items() if quotes}


def rehearsal_doc(doc: dict[str, Any], skipped: Mapping[str, str]) -> dict[str, Any]:
    """The stack as the rehearsal applies it: without the skipped resources, with STAND_IN
    for opaque quotes of them and without `depends_on` entries naming them; everything else
    exactly as synthesized."""
    opaque = _opaque(skipped)
    resources: dict[str, dict[str, Any]] = {}
    for address, body in _addresses(doc).items():
        if address in skipped:
            continue
        kept = json.loads(opaque.sub(STAND_IN, json.dumps(body)))
        if "depends_on" in kept:
            kept["depends_on"] = [d for d in kept["depends_on"] if d not in skipped]
            if not kept["depends_on"]:
                del kept["depends_on"]
        rtype, name = address.split(".", 1)
        resources.setdefault(rtype, {})[name] = kept
    rehearsed = {k: v for k, v in doc.items() if k != "resource"}
    if resources:
        rehearsed["resource"] = resources
    return rehearsed


def _moto_settings(endpoint: str) -> dict[str, Any]:
    """What turns an S3 backend's (or remote state's) settings towards moto, and nothing else."""
    return {
        "endpoints": {"s3": endpoint, "sts": endpoint},
        "use_path_style": True,
        "access_key": ACCESS_KEY,
        "secret_key": ACCESS_KEY,
    }


def override_doc(doc: dict[str, Any], endpoint: str, skipped: Mapping[str, str]) -> dict[str, Any]:
    """The rehearsal's override file for one stack copy: provider credentials, path-style S3
    and moto as the proxy for account-prefixed hosts; remote state read from moto (each config
    otherwise as synthesized); the EMULATOR_GAPS settings of each resource of such a type; and
    stand-ins for outputs of skipped resources."""
    override: dict[str, Any] = {
        "provider": {
            "aws": [
                {
                    "access_key": ACCESS_KEY,
                    "secret_key": ACCESS_KEY,
                    "s3_use_path_style": True,
                    # S3 Control prefixes the account id to the endpoint's host
                    # (`111111111111.127.0.0.1`, which no resolver knows); hashicorp/aws reads
                    # bucket tags through S3 Control (internal/service/s3/tags.go). Through moto
                    # as an HTTP proxy such a request reaches moto, which routes it by its path;
                    # loopback addresses never go through it (golang.org/x/net/http/httpproxy,
                    # as hashicorp/aws-sdk-go-base internal/config/config.go applies it).
                    "http_proxy": endpoint,
                    "https_proxy": "",  # nothing here is HTTPS: no proxy for it
                    "max_retries": 1,  # an API moto lacks answers 500: fail at once
                }
            ]
        }
    }
    resources = {
        rtype: {name: dict(EMULATOR_GAPS[rtype].settings) for name in block}
        for rtype, block in doc.get("resource", {}).items()
        if rtype in EMULATOR_GAPS and EMULATOR_GAPS[rtype].settings
    }
    if resources:
        override["resource"] = resources
    states = doc.get("data", {}).get("terraform_remote_state", {})
    if states:
        override["data"] = {
            "terraform_remote_state": {
                name: {"config": {**state["config"], **_moto_settings(endpoint)}}
                for name, state in states.items()
            }
        }
    outputs = {
        name: {"value": STAND_IN}
        for name, output in doc.get("output", {}).items()
        if _refers_to(output.get("value"), skipped)
    }
    if outputs:
        override["output"] = outputs
    return override


def backend_config(endpoint: str) -> str:
    """The `-backend-config` file: merged over the stack's own S3 backend settings."""
    lines = [
        f"{key} = {json.dumps(value)}"
        for key, value in _moto_settings(endpoint).items()
        if key != "endpoints"
    ]
    endpoints = ", ".join(
        f"{k} = {json.dumps(v)}" for k, v in _moto_settings(endpoint)["endpoints"].items()
    )
    return "\n".join([*lines, f"endpoints = {{ {endpoints} }}"]) + "\n"


@dataclass
class StackRun:
    """One stack's copy, as synthesized (`doc`) and what of it the rehearsal leaves out."""

    name: str
    directory: Path
    doc: dict[str, Any]
    skipped: dict[str, str]


def prepare(name: str, source: Path, endpoint: str) -> StackRun:
    """Copy a synthesized stack without its skipped resources (rehearsal_doc) and add the
    rehearsal's override and backend files."""
    directory = REHEARSE_DIR / name
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(source, directory, ignore=shutil.ignore_patterns(".terraform*", "tfplan"))
    (REHEARSE_DIR / f"{name}.log").unlink(missing_ok=True)  # a log per run, not appended to
    doc = json.loads((directory / "cdk.tf.json").read_text())
    run = StackRun(name, directory, doc, skipped_addresses(doc))
    (directory / "cdk.tf.json").write_text(json.dumps(rehearsal_doc(doc, run.skipped), indent=2))
    (directory / OVERRIDE_FILE).write_text(
        json.dumps(override_doc(doc, endpoint, run.skipped), indent=1)
    )
    (directory / BACKEND_FILE).write_text(backend_config(endpoint))
    return run


class Rehearsal:
    """The CLI, its environment and the emulator for one env's rehearsal."""

    def __init__(self, env: EnvironmentSettings, endpoint: str) -> None:
        self.env = env
        self.endpoint = endpoint
        self.exe, self.version = terraform_stacks.find_terraform()
        self.cli_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "TF_")) and k.lower() not in ("http_proxy", "https_proxy")
        }
        self.cli_env.update(
            # https://registry.terraform.io/providers/hashicorp/aws/latest/docs/guides/custom-service-endpoints
            AWS_ENDPOINT_URL=endpoint,
            AWS_EC2_METADATA_DISABLED="true",
            TF_CLI_CONFIG_FILE=str(go_tools.write_cli_config()),
            TF_IN_AUTOMATION="1",
            CHECKPOINT_DISABLE="1",
            NO_PROXY="127.0.0.1,localhost",
        )

    def terraform(self, run: StackRun, *args: str) -> str:
        """One CLI command in the stack's copy; its output is appended to <copy>.log."""
        proc = subprocess.run(
            [self.exe, f"-chdir={run.directory}", *args, "-no-color"],
            env=self.cli_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=terraform_stacks.TIMEOUT_S,
        )
        with (REHEARSE_DIR / f"{run.name}.log").open("a") as log:
            log.write(f"$ {Path(self.exe).name} {' '.join(args)}\n{proc.stdout}{proc.stderr}\n")
        if proc.returncode != 0:
            raise Failure(
                f"make rehearse: `{Path(self.exe).name} {args[0]}` failed for "
                f"{run.name}: {terraform_stacks._first_error(proc.stdout + proc.stderr)}"
                f" (log: {REHEARSE_DIR / run.name}.log)",
                1,
            )
        return proc.stdout

    def apply(self, run: StackRun) -> int:
        """init with the real backend (+ moto's endpoint), plan, apply; resources in state."""
        self.terraform(
            run, "init", "-input=false", "-reconfigure", f"-backend-config={BACKEND_FILE}"
        )
        self.terraform(run, "plan", "-input=false", "-out=tfplan")
        self.terraform(run, "apply", "-input=false", "tfplan")
        return sum(
            1
            for line in self.terraform(run, "state", "list").splitlines()
            if line.strip() and not line.startswith("data.")
        )

    def destroy(self, run: StackRun) -> int:
        """destroy; the managed resources left in state afterwards (0 for a clean destroy)."""
        self.terraform(run, "destroy", "-input=false", "-auto-approve")
        return sum(
            1
            for line in self.terraform(run, "state", "list").splitlines()
            if line.strip() and not line.startswith("data.")
        )


def _client(service: str, rehearsal: Rehearsal) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=rehearsal.endpoint,
        region_name=rehearsal.env.region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=ACCESS_KEY,
    )


def create_state_bucket(rehearsal: Rehearsal) -> None:
    """The env's state bucket, which README "Remote state" says exists before any stack."""
    state = rehearsal.env.state
    assert isinstance(state, S3State)  # rehearse() refuses any other
    s3 = _client("s3", rehearsal)
    s3.create_bucket(
        Bucket=state.bucket, CreateBucketConfiguration={"LocationConstraint": rehearsal.env.region}
    )
    s3.put_bucket_versioning(Bucket=state.bucket, VersioningConfiguration={"Status": "Enabled"})


def seed_first_deploy(rehearsal: Rehearsal, config: StackRun) -> list[str]:
    """README "Plan and deploy" before the services stack: a value in every secret of the
    config stack (aws secretsmanager put-secret-value) and every image `make images` pushes,
    at the tag it pushes (no docker registry in moto: the image's manifest goes in by API)."""
    sm, ecr = _client("secretsmanager", rehearsal), _client("ecr", rehearsal)
    seeded = []
    for secret in config.doc.get("resource", {}).get("aws_secretsmanager_secret", {}).values():
        sm.put_secret_value(SecretId=secret["name"], SecretString=secrets.token_hex(32))
        seeded.append(f"secret {secret['name']}")
    tag = rehearsal.env.services_settings.image_tag
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "digest": "sha256:" + "0" * 64,
                "size": 0,
                "mediaType": "application/vnd.docker.container.image.v1+json",
            },
            "layers": [],
        }
    )
    for image in built_images(rehearsal.env):
        ecr.put_image(repositoryName=image.repository, imageManifest=manifest, imageTag=tag)
        seeded.append(f"image {image.repository}:{tag}")
    return seeded


def empty_for_teardown(rehearsal: Rehearsal, run: StackRun) -> list[str]:
    """README "Tear down" before destroying a stack: its ECR repositories and S3 buckets keep
    what they hold (force_delete/force_destroy are false), so their images and object versions
    are deleted first (aws ecr batch-delete-image; aws s3api delete-objects)."""
    resources = run.doc.get("resource", {})
    ecr, s3 = _client("ecr", rehearsal), _client("s3", rehearsal)
    emptied = []
    for repository in resources.get("aws_ecr_repository", {}).values():
        images = ecr.list_images(repositoryName=repository["name"])["imageIds"]
        if images:
            ecr.batch_delete_image(repositoryName=repository["name"], imageIds=images)
            emptied.append(f"{len(images)} image(s) of {repository['name']}")
    for bucket in resources.get("aws_s3_bucket", {}).values():
        listed = s3.list_object_versions(Bucket=bucket["bucket"])
        versions = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])
        ]
        if versions:
            s3.delete_objects(Bucket=bucket["bucket"], Delete={"Objects": versions})
            emptied.append(f"{len(versions)} object version(s) of {bucket['bucket']}")
    return emptied


def rehearse(env_name: str, outdir: Path) -> None:
    """Apply every stack of `env_name` in deploy order against moto, then destroy in reverse."""
    from devtools.local_aws import Moto

    (env,) = select(env_name)
    if not isinstance(env.state, S3State):
        raise Failure(
            f"make rehearse: {env_name} keeps its state in Terraform Cloud; the "
            f"rehearsal emulates an S3 backend only",
            2,
        )
    stacks = dict(terraform_stacks.synthesized_stacks(outdir))
    names = [f"{kind}-{env_name}" for kind in STACKS_IN_DEPLOY_ORDER]
    if missing := [name for name in names if name not in stacks]:
        raise Failure(
            f"make rehearse: {outdir} has no {', '.join(missing)}: synthesize ENV={env_name} first",
            2,
        )
    os.environ["MOTO_ACCOUNT_ID"] = env.account_id  # moto answers as the env's account
    # AWS managed policies (the stacks attach some by ARN) exist in moto only when asked for
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    REHEARSE_DIR.mkdir(parents=True, exist_ok=True)
    # one call at a time: moto's backends race under the provider's parallel calls
    moto = Moto(own_process=True, log=REHEARSE_DIR / "moto.log", serialize=True)
    try:
        _rehearse_stacks(Rehearsal(env, moto.endpoint), names, stacks)
    finally:
        moto.stop()


def _rehearse_stacks(rehearsal: Rehearsal, names: list[str], stacks: dict[str, Path]) -> None:
    print(
        f"rehearsal of {', '.join(names)} with {Path(rehearsal.exe).name} {rehearsal.version}"
        f", hashicorp/aws {AWS_PROVIDER_VERSION}, moto at {rehearsal.endpoint}",
        flush=True,
    )
    create_state_bucket(rehearsal)
    runs = [prepare(name, stacks[name], rehearsal.endpoint) for name in names]
    for run in runs:
        if run.name.startswith("services-"):
            config = next(r for r in runs if r.name.startswith("config-"))
            print(f"seeded: {', '.join(seed_first_deploy(rehearsal, config))}", flush=True)
        created = rehearsal.apply(run)
        print(f"{run.name}: applied, {created} resources in state", flush=True)
        for address, why in run.skipped.items():
            print(f"{run.name}: skipped {address}: {why}")
        for address, quotes in stood_in(run.doc, run.skipped).items():
            print(f"{run.name}: {STAND_IN!r} stands in for {', '.join(quotes)} in {address}")
    for run in reversed(runs):
        if emptied := empty_for_teardown(rehearsal, run):
            print(f"emptied: {', '.join(emptied)}", flush=True)
        left = rehearsal.destroy(run)
        print(f"{run.name}: destroyed, {left} resources left in state", flush=True)
        if left:
            raise Failure(f"make rehearse: destroy left {left} resources in {run.name}", 1)
    print(f"rehearsal of {len(runs)} stacks: applied and destroyed cleanly")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env", help="environment name, e.g. dev")
    parser.add_argument("outdir", nargs="?", default=ROOT / "cdktf.out", type=Path)
    args = parser.parse_args(argv)
    return go_tools.exit_code(lambda: rehearse(args.env, args.outdir))


if __name__ == "__main__":
    sys.exit(main())
