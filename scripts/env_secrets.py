"""List an env's secrets and whether each has a value; set one from stdin or a file.

    python scripts/env_secrets.py dev                            # every secret: set / NO VALUE
    python scripts/env_secrets.py dev --set web/db-password < f  # from stdin (or a tty prompt)
    python scripts/env_secrets.py dev --set web/db-password --file f
    python scripts/env_secrets.py dev --set web/config-agent-token --generate  # 32 random bytes

The config stack creates each secret (`/<env>/<service>/<name>`, every name in a service's
`secrets` plus its `config-agent-token`) without a value: values never pass through Terraform.
A value is never taken from the command line (argv is visible to every user in `ps` and lands
in shell history) and never printed. Runs in the env's region as its `deploy_role`.
"""

from __future__ import annotations

import argparse
import getpass
import secrets as random_source
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from scripts.aws_session import AccountMismatch, aws_problem, deploy_session  # noqa: E402
from settings.environments import ENVIRONMENTS, select  # noqa: E402
from settings.naming import AGENT_TOKEN_SECRET, config_path  # noqa: E402
from settings.validation import SettingsError  # noqa: E402

if TYPE_CHECKING:
    from settings.schema import EnvironmentSettings

HAS_VALUE, NO_VALUE, MISSING = "set", "NO VALUE", "MISSING (apply config-<env> first)"
CURRENT = "AWSCURRENT"
"""The staging label of a secret's current value; a secret created without a value has no
version at all: https://docs.aws.amazon.com/secretsmanager/latest/userguide/whats-in-a-secret.html"""


def required_secrets(env: EnvironmentSettings) -> list[str]:
    """Every secret the env's services read, as the config stack names them."""
    return [
        config_path(env.name, spec.name, name)
        for spec in env.services
        for name in (*spec.secrets, AGENT_TOKEN_SECRET)
    ]


def secret_states(client: Any, names: list[str]) -> dict[str, str]:
    """{name: HAS_VALUE | NO_VALUE | MISSING}, without reading any value (DescribeSecret)."""
    states = {}
    for name in names:
        try:
            stages = client.describe_secret(SecretId=name).get("VersionIdsToStages", {})
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            states[name] = MISSING
            continue
        states[name] = HAS_VALUE if any(CURRENT in s for s in stages.values()) else NO_VALUE
    return states


def resolve(env: EnvironmentSettings, name: str) -> str:
    """`web/db-password` or `/dev/web/db-password` -> the full name, if the env uses it."""
    full = name if name.startswith("/") else f"/{env.name}/{name}"
    known = required_secrets(env)
    if full not in known:
        raise ValueError(
            f"{name!r} is not a secret of {env.name}'s services; they are: {', '.join(known)}"
        )
    return full


def read_value(file: Path | None, generate: bool, stdin: TextIO) -> str:
    """The value from `file`, a random token, a no-echo prompt (tty) or stdin; one trailing
    newline (as `echo` adds) is dropped."""
    if generate:
        return random_source.token_hex(32)
    if file is not None:
        text = file.read_text()
    elif stdin.isatty():
        text = getpass.getpass("value (not echoed): ")
    else:
        text = stdin.read()
    value = text[:-1] if text.endswith("\n") else text
    if not value:
        raise ValueError("the value is empty: nothing was set")
    return value


def listing(env: EnvironmentSettings, states: dict[str, str]) -> list[str]:
    """One line per secret, then what to do about the ones without a value."""
    lines = [f"{state:>8}  {name}" for name, state in states.items()]
    missing = [n for n, s in states.items() if s != HAS_VALUE]
    if missing:
        lines.append(
            f"{len(missing)} of {len(states)} secrets of {env.name} have no value: "
            f"make secrets ENV={env.name} SET=<service>/<name> < value-file"
        )
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="environment name, e.g. dev")
    parser.add_argument("--set", dest="name", help="secret to set: <service>/<name> or full name")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--file", type=Path, help="read the value from this file (else stdin)")
    source.add_argument(
        "--generate",
        action="store_true",
        help="a random 64-hex-character value (e.g. a config-agent-token)",
    )
    return parser


def run(
    args: argparse.Namespace,
    stdin: TextIO,
    session: Any = None,
    table: tuple[EnvironmentSettings, ...] = ENVIRONMENTS,
) -> int:
    """List, or set one secret; every failure is one line on stderr."""
    try:
        (env,) = select(args.env, table)
        name = resolve(env, args.name) if args.name else None
        value = read_value(args.file, args.generate, stdin) if name else None
        client = (session or deploy_session(env)).client("secretsmanager")
        if name and value is not None:
            client.put_secret_value(SecretId=name, SecretString=value)
            print(f"set {name} (a new version; the agents pick it up)")
            return 0
        print("\n".join(listing(env, secret_states(client, required_secrets(env)))))
        return 0
    except (SettingsError, ValueError, OSError, AccountMismatch) as exc:
        print(f"secrets: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"secrets: {aws_problem(exc)}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    """`make secrets`: list, or set one secret."""
    return run(_parser().parse_args(argv), sys.stdin)


if __name__ == "__main__":
    sys.exit(main())
