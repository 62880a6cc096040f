"""The OpenSearch log export setting: every bad value is refused with one line naming the env
and the field, before synth."""

from __future__ import annotations

from dataclasses import replace

import pytest

from settings.log_export import (
    IndexRotation,
    OpenSearchLogExport,
    OpenSearchVpcAccess,
    index_name_problem,
)
from settings.schema import EnvironmentSettings
from settings.validation import SettingsError, validate
from tests.tables import SAMPLE as ENVIRONMENTS

BASE = ENVIRONMENTS[0]
REGION = BASE.region
DOMAIN = f"arn:aws:es:{REGION}:111111111111:domain/logs"
COLLECTION_ID = "abc123def456ghi789jk"
COLLECTION = f"arn:aws:aoss:{REGION}:111111111111:collection/{COLLECTION_ID}"
ENDPOINT = f"https://{COLLECTION_ID}.{REGION}.aoss.amazonaws.com"


def env_with(export: OpenSearchLogExport | None, exporting: bool = True) -> EnvironmentSettings:
    """The first shipped env with `export` set and its first service exporting."""
    first, *rest = BASE.services
    return replace(
        BASE,
        services_settings=replace(BASE.services_settings, log_export=export),
        services=(first.with_(export_logs=exporting), *rest),
    )


def _error(env: EnvironmentSettings) -> str:
    with pytest.raises(SettingsError) as caught:
        validate(env)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_shipped_table_exports_nothing():
    for env in ENVIRONMENTS:
        assert env.services_settings.log_export is None
        assert not any(s.export_logs for s in env.services)


@pytest.mark.parametrize(
    "export",
    [
        OpenSearchLogExport(arn=DOMAIN),
        OpenSearchLogExport(arn=DOMAIN, index="app-logs", index_rotation=IndexRotation.HOURLY),
        OpenSearchLogExport(arn=DOMAIN, vpc=OpenSearchVpcAccess()),
        OpenSearchLogExport(arn=DOMAIN, vpc=OpenSearchVpcAccess("sg-0123456789abcdef0")),
        OpenSearchLogExport(arn=COLLECTION, collection_endpoint=ENDPOINT),
    ],
    ids=["domain", "domain-hourly", "vpc-domain", "vpc-domain-sg", "serverless"],
)
def test_every_shape_validates(export):
    assert validate(env_with(export)).services_settings.log_export == export


@pytest.mark.parametrize(
    ("export", "field", "words"),
    [
        (
            OpenSearchLogExport(arn="arn:aws:es:us-east-1:111111111111:domain/logs"),
            "arn",
            "in the env's region",
        ),
        (
            OpenSearchLogExport(arn=f"arn:aws:es:{REGION}:111111111111:domain/Logs"),
            "arn",
            "OpenSearch domain ARN",
        ),
        (OpenSearchLogExport(arn="arn:aws:s3:::bucket"), "arn", "Serverless collection ARN"),
        (OpenSearchLogExport(arn=DOMAIN, index="Logs"), "index", "lowercase"),
        (OpenSearchLogExport(arn=DOMAIN, index="app logs"), "index", "must not contain ' '"),
        (OpenSearchLogExport(arn=DOMAIN, index="_logs"), "index", "must not start with"),
        (OpenSearchLogExport(arn=DOMAIN, index="a" * 81), "index", "80 characters"),
        (
            OpenSearchLogExport(arn=DOMAIN, collection_endpoint=ENDPOINT),
            "collection_endpoint",
            "only for a Serverless collection",
        ),
        (OpenSearchLogExport(arn=COLLECTION), "collection_endpoint", ENDPOINT),
        (
            OpenSearchLogExport(
                arn=COLLECTION, collection_endpoint="https://other.aoss.amazonaws.com"
            ),
            "collection_endpoint",
            ENDPOINT,
        ),
        (
            OpenSearchLogExport(
                arn=COLLECTION, collection_endpoint=ENDPOINT, index_rotation=IndexRotation.HOURLY
            ),
            "index_rotation",
            "no index rotation",
        ),
        (
            OpenSearchLogExport(
                arn=COLLECTION, collection_endpoint=ENDPOINT, vpc=OpenSearchVpcAccess()
            ),
            "vpc",
            "only for a domain",
        ),
        (
            OpenSearchLogExport(arn=DOMAIN, vpc=OpenSearchVpcAccess("sg-xyz")),
            "vpc.domain_security_group_id",
            "not a security group id",
        ),
        (
            OpenSearchLogExport(arn=DOMAIN, backup_retention_days=0),
            "backup_retention_days",
            "between 1 and 3650",
        ),
        (
            OpenSearchLogExport(arn=DOMAIN, buffer_interval_seconds=901),
            "buffer_interval_seconds",
            "between 0 and 900",
        ),
    ],
)
def test_bad_destination_is_one_line_naming_the_field(export, field, words):
    message = _error(env_with(export))
    assert message.startswith(f"environment {BASE.name!r}: services_settings.log_export.{field}:")
    assert words in message


def test_a_service_exporting_without_a_destination_names_the_service():
    message = _error(env_with(None))
    assert (
        f"services[{BASE.services[0].name}].export_logs: needs services_settings.log_export"
        in message
    )


def test_a_destination_no_service_exports_to_is_refused():
    message = _error(env_with(OpenSearchLogExport(arn=DOMAIN), exporting=False))
    assert "services_settings.log_export: no service has export_logs=True" in message


@pytest.mark.parametrize("name", ["logs", "app-logs.v1", "a" * 80, "ecs_logs", "x+y"])
def test_index_names_opensearch_accepts(name):
    assert index_name_problem(name, IndexRotation.DAILY) is None


@pytest.mark.parametrize(
    "name",
    [
        "",
        "UPPER",
        "a/b",
        "a\\b",
        "a*",
        "a?",
        'a"b',
        "a<b",
        "a>b",
        "a|b",
        "a b",
        "a,b",
        "a#b",
        "a:b",
        "-a",
        "_a",
        "+a",
        ".",
        "..",
    ],
)
def test_index_names_opensearch_refuses(name):
    assert index_name_problem(name, IndexRotation.DAILY) is not None


def test_index_length_leaves_room_for_the_rotation_suffix_in_bytes():
    # 80 characters of 4-byte UTF-8 are 320 bytes: over OpenSearch's 255-byte limit.
    assert "255 bytes" in (index_name_problem("\U0001f600" * 80, IndexRotation.DAILY) or "")
    assert index_name_problem("\u00e9" * 80, IndexRotation.HOURLY) is None  # 160 + 14 bytes


# --- flow logs through OpenSearch Ingestion ---------------------------------------------------
DOMAIN_ENDPOINT = f"https://search-logs-abc123def456.{REGION}.es.amazonaws.com"


@pytest.mark.parametrize(
    "export",
    [
        OpenSearchLogExport(arn=DOMAIN, flow_logs=True, domain_endpoint=DOMAIN_ENDPOINT),
        OpenSearchLogExport(
            arn=DOMAIN,
            flow_logs=True,
            vpc=OpenSearchVpcAccess(),
            domain_endpoint=f"https://vpc-logs-abc123.{REGION}.es.amazonaws.com",
            flow_log_min_units=2,
            flow_log_max_units=96,
        ),
        OpenSearchLogExport(
            arn=COLLECTION,
            collection_endpoint=ENDPOINT,
            flow_logs=True,
            flow_log_min_units=3,
            flow_log_max_units=3,
        ),
    ],
    ids=["domain", "vpc-domain", "serverless"],
)
def test_flow_log_export_validates_with_or_without_exporting_services(export):
    for exporting in (True, False):
        assert validate(env_with(export, exporting)).services_settings.log_export == export


@pytest.mark.parametrize(
    ("export", "field", "words"),
    [
        (
            OpenSearchLogExport(arn=DOMAIN, flow_logs=True),
            "domain_endpoint",
            f"https://search-logs-<id>.{REGION}.es.amazonaws.com",
        ),
        (
            OpenSearchLogExport(
                arn=DOMAIN,
                flow_logs=True,
                domain_endpoint=DOMAIN_ENDPOINT.replace("-logs-", "-other-"),
            ),
            "domain_endpoint",
            "domain logs's endpoint",
        ),
        (
            OpenSearchLogExport(
                arn=DOMAIN,
                flow_logs=True,
                domain_endpoint=DOMAIN_ENDPOINT.replace(REGION, "eu-west-9"),
            ),
            "domain_endpoint",
            "domain logs's endpoint",
        ),
        (
            OpenSearchLogExport(arn=DOMAIN, flow_logs=True, domain_endpoint=DOMAIN_ENDPOINT[8:]),
            "domain_endpoint",
            "https://search-logs",
        ),
        (
            OpenSearchLogExport(
                arn=COLLECTION,
                collection_endpoint=ENDPOINT,
                flow_logs=True,
                domain_endpoint=DOMAIN_ENDPOINT,
            ),
            "domain_endpoint",
            "only for a domain",
        ),
        (
            OpenSearchLogExport(arn=DOMAIN, domain_endpoint=DOMAIN_ENDPOINT),
            "domain_endpoint",
            "only with flow_logs=True",
        ),
        (
            OpenSearchLogExport(arn=DOMAIN, flow_log_max_units=8),
            "flow_log_max_units",
            "only with flow_logs=True",
        ),
        (
            OpenSearchLogExport(
                arn=DOMAIN, flow_logs=True, domain_endpoint=DOMAIN_ENDPOINT, flow_log_min_units=0
            ),
            "flow_log_min_units",
            "between 1 and 96",
        ),
        (
            OpenSearchLogExport(
                arn=DOMAIN,
                flow_logs=True,
                domain_endpoint=DOMAIN_ENDPOINT,
                flow_log_min_units=97,
                flow_log_max_units=97,
            ),
            "flow_log_min_units",
            "between 1 and 96",
        ),
        (
            OpenSearchLogExport(
                arn=DOMAIN,
                flow_logs=True,
                domain_endpoint=DOMAIN_ENDPOINT,
                flow_log_min_units=4,
                flow_log_max_units=2,
            ),
            "flow_log_max_units",
            "between 4 and 96",
        ),
        (
            OpenSearchLogExport(
                arn=DOMAIN, flow_logs=True, domain_endpoint=DOMAIN_ENDPOINT, flow_log_max_units=97
            ),
            "flow_log_max_units",
            "between 1 and 96",
        ),
    ],
)
def test_bad_flow_log_setting_is_one_line_naming_the_field(export, field, words):
    message = _error(env_with(export, exporting=False))
    assert message.startswith(f"environment {BASE.name!r}: services_settings.log_export.{field}:")
    assert words in message


def test_a_destination_for_nothing_names_both_ways_to_use_it():
    message = _error(env_with(OpenSearchLogExport(arn=DOMAIN), exporting=False))
    assert "flow_logs is off" in message
