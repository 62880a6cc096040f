"""Optional export of logs to OpenSearch: container logs through Amazon Data Firehose, VPC flow
logs through an Amazon OpenSearch Ingestion pipeline. The schema of the env setting and the
rules it must satisfy (applied by `settings/validation.py`).

Kept apart from `settings/schema.py` and `settings/rules.py` so the feature reads in one place;
an env turns it on with `ServicesSettings.log_export`, each service with `export_logs`, and flow
logs with `OpenSearchLogExport.flow_logs`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from settings.rules import between_problem


class IndexRotation(StrEnum):
    """How often Firehose starts a new index (`<index>-<period stamp>`); domains only
    (Firehose API reference, AmazonopensearchserviceDestinationConfiguration
    IndexRotationPeriod). A Serverless collection takes no rotation: it manages its own data
    lifecycle."""

    NONE = "NoRotation"
    HOURLY = "OneHour"
    DAILY = "OneDay"
    WEEKLY = "OneWeek"
    MONTHLY = "OneMonth"


ROTATION_SUFFIX_CHARS = {
    IndexRotation.NONE: 0,
    IndexRotation.HOURLY: 14,
    IndexRotation.DAILY: 11,
    IndexRotation.WEEKLY: 9,
    IndexRotation.MONTHLY: 8,
}
"""Characters Firehose appends to the index name: `-YYYY-MM-DD-HH`, `-YYYY-MM-DD`, `-YYYY-ww`,
`-YYYY-MM` (Firehose Developer Guide, "Index rotation for the OpenSearch Service
destination")."""


@dataclass(frozen=True)
class OpenSearchVpcAccess:
    """The domain sits in a VPC: Firehose delivers from network interfaces it creates in this
    env's private subnets, behind a security group of its own that reaches port 443 only.
    The domain must be in this env's VPC (or one routed and peered to it)."""

    domain_security_group_id: str | None = None
    """The domain's security group: the Firehose group's egress goes to it alone, and an
    ingress rule on it admits the Firehose group on 443. None: egress to the env's VPC CIDR
    on 443, and the domain's group must admit the Firehose group (stack output) itself."""


@dataclass(frozen=True)
class OpenSearchLogExport:
    """Route the app container logs of every service with `export_logs` (FireLens, a Fluent
    Bit sidecar) through one Firehose stream into an existing OpenSearch Service domain or
    OpenSearch Serverless collection. CloudWatch stays the default for every other log."""

    arn: str
    """The domain (`arn:aws:es:<region>:<account>:domain/<name>`) or the Serverless collection
    (`arn:aws:aoss:<region>:<account>:collection/<id>`), in the env's region."""
    index: str = "ecs-logs"
    """The index (domain: the prefix of the rotated indexes) the documents go to."""
    collection_endpoint: str | None = None
    """Serverless only, and required there: `https://<id>.<region>.aoss.amazonaws.com`."""
    vpc: OpenSearchVpcAccess | None = None
    """Domains in a VPC only; None: the domain's public endpoint."""
    index_rotation: IndexRotation = IndexRotation.DAILY
    """Domains only: daily indexes keep deleting old logs cheap (Index State Management)."""
    backup_retention_days: int = 30
    """Days the documents OpenSearch refused are kept in the encrypted backup bucket (and,
    with `flow_logs`, the flow-log objects the pipeline reads)."""
    buffer_interval_seconds: int = 60
    """Longest wait before Firehose sends a batch (0-900): the delay before logs appear."""
    flow_logs: bool = False
    """Also export the VPC's flow logs (to `<index>-flowlogs-YYYY.MM.DD`) through an OpenSearch
    Ingestion pipeline reading them from S3; off by default (the pipeline bills per OCU-hour)."""
    domain_endpoint: str | None = None
    """Domains with `flow_logs` only, and required there: the domain's endpoint,
    `https://search-<name>-<id>.<region>.es.amazonaws.com` (`https://vpc-...` in a VPC). An
    OpenSearch Ingestion sink is given by endpoint, not ARN."""
    flow_log_min_units: int = 1
    """Ingestion OCUs the pipeline never goes below (billed while it runs): 1-96."""
    flow_log_max_units: int = 4
    """Ingestion OCUs the pipeline may scale to: flow_log_min_units-96."""

    @property
    def serverless(self) -> bool:
        """True for an OpenSearch Serverless collection, False for a domain."""
        return ":aoss:" in self.arn


_DOMAIN_ARN = r"^arn:aws[a-z-]*:es:{region}:\d{{12}}:domain/[a-z][a-z0-9-]{{2,27}}$"
"""Domain names: 3-28 characters of a-z 0-9 -, starting with a letter (OpenSearch Service
Developer Guide, "Creating and managing domains": naming)."""
_COLLECTION_ARN = r"^arn:aws[a-z-]*:aoss:{region}:\d{{12}}:collection/(?P<id>[a-z0-9]{{3,40}})$"
_DOMAIN_ENDPOINT = r"^https://(search|vpc)-{name}-[a-z0-9]+\.{region}\.es\.amazonaws\.com$"
"""The endpoint a domain reports (DescribeDomain Endpoint / Endpoints["vpc"]), with https://."""
MAX_INGESTION_UNITS = 96
"""OpenSearch Ingestion: 1 to 96 Ingestion OCUs for a stateless pipeline (this one: a codec and
a date processor); OpenSearch Service Developer Guide, "Scaling pipelines in Amazon OpenSearch
Ingestion" (https://docs.aws.amazon.com/opensearch-service/latest/developerguide/
ingestion-scaling.html)."""
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$")
MAX_FIREHOSE_INDEX_CHARS = 80
"""Firehose's IndexName: 1-80 characters (Firehose API reference,
AmazonopensearchserviceDestinationConfiguration / AmazonOpenSearchServerlessDestination-
Configuration)."""
MAX_INDEX_BYTES = 255
_INDEX_FORBIDDEN = set('\\/*?"<>| ,#:')
"""OpenSearch index naming restrictions: lowercase; none of \\ / * ? " < > | space , # :; not
starting with - _ +; not . or ..; at most 255 bytes (OpenSearch documentation, "Index naming
restrictions"; Elasticsearch create-index API, the same rules)."""


def opensearch_arn_problem(arn: str, region: str) -> str | None:
    """A domain or Serverless collection ARN in `region` (Firehose delivers in its own)."""
    domain = re.match(_DOMAIN_ARN.format(region=re.escape(region)), arn)
    collection = re.match(_COLLECTION_ARN.format(region=re.escape(region)), arn)
    if domain or collection:
        return None
    return (
        f"{arn!r} must be an OpenSearch domain ARN (arn:aws:es:{region}:<account>:domain/"
        f"<name>) or a Serverless collection ARN (arn:aws:aoss:{region}:<account>:"
        "collection/<id>) in the env's region"
    )


def index_name_problem(index: str, rotation: IndexRotation | None) -> str | None:
    """OpenSearch's index naming rules, within Firehose's 80-character IndexName, leaving room
    for the rotation suffix Firehose appends (None: no rotation, as for a collection)."""
    if not index:
        return "an index name is required"
    if index != index.lower():
        return f"index {index!r} must be lowercase"
    bad = sorted(set(index) & _INDEX_FORBIDDEN)
    if bad:
        return f"index {index!r} must not contain {' '.join(repr(c) for c in bad)}"
    if index[0] in "-_+" or index in (".", ".."):
        return f"index {index!r} must not start with - _ + or be . or .."
    suffix = ROTATION_SUFFIX_CHARS[rotation] if rotation is not None else 0
    if len(index) > MAX_FIREHOSE_INDEX_CHARS:
        return f"index {index!r} is longer than Firehose's {MAX_FIREHOSE_INDEX_CHARS} characters"
    if len(index.encode()) + suffix > MAX_INDEX_BYTES:
        return f"index {index!r} plus its rotation suffix exceeds {MAX_INDEX_BYTES} bytes"
    return None


def collection_endpoint_problem(export: OpenSearchLogExport, region: str) -> str | None:
    """A collection needs its endpoint (Firehose takes no collection ARN); a domain none."""
    if not export.serverless:
        if export.collection_endpoint is not None:
            return "only for a Serverless collection (a domain is given by its ARN)"
        return None
    match = re.match(_COLLECTION_ARN.format(region=re.escape(region)), export.arn)
    collection_id = match["id"] if match else "<id>"
    expected = f"https://{collection_id}.{region}.aoss.amazonaws.com"
    if export.collection_endpoint != expected:
        return f"{export.collection_endpoint!r} must be the collection's endpoint {expected!r}"
    return None


def log_export_problem(export: OpenSearchLogExport, region: str) -> tuple[str, str] | None:
    """(field, reason) for the first thing wrong with the export setting, or None."""
    if problem := opensearch_arn_problem(export.arn, region):
        return "arn", problem
    rotation = None if export.serverless else export.index_rotation
    if export.serverless and export.index_rotation is not IndexRotation.DAILY:
        return "index_rotation", "a Serverless collection takes no index rotation (leave it)"
    if problem := index_name_problem(export.index, rotation):
        return "index", problem
    if problem := collection_endpoint_problem(export, region):
        return "collection_endpoint", problem
    if export.vpc is not None:
        if export.serverless:
            return "vpc", (
                "only for a domain in a VPC; a collection is reached through its "
                "endpoint (use its network policy)"
            )
        group = export.vpc.domain_security_group_id
        if group is not None and not _SECURITY_GROUP.match(group):
            return "vpc.domain_security_group_id", f"{group!r} is not a security group id"
    if problem := between_problem(export.backup_retention_days, 1, 3650):
        return "backup_retention_days", problem
    if problem := between_problem(export.buffer_interval_seconds, 0, 900):
        return "buffer_interval_seconds", problem
    return flow_log_problem(export, region)


def flow_log_problem(export: OpenSearchLogExport, region: str) -> tuple[str, str] | None:
    """(field, reason) for the flow-log pipeline's settings: a domain's endpoint, OCU range."""
    flow_only = ("domain_endpoint", "flow_log_min_units", "flow_log_max_units")
    if not export.flow_logs:
        changed = [f for f in flow_only if getattr(export, f) != getattr(_DEFAULTS, f)]
        return (changed[0], "only with flow_logs=True") if changed else None
    if problem := between_problem(export.flow_log_min_units, 1, MAX_INGESTION_UNITS):
        return "flow_log_min_units", problem
    if problem := between_problem(
        export.flow_log_max_units, export.flow_log_min_units, MAX_INGESTION_UNITS
    ):
        return "flow_log_max_units", problem
    if export.serverless:
        if export.domain_endpoint is not None:
            return "domain_endpoint", "only for a domain (a collection uses collection_endpoint)"
        return None
    name = export.arn.rsplit("/", 1)[-1]
    pattern = _DOMAIN_ENDPOINT.format(name=re.escape(name), region=re.escape(region))
    if export.domain_endpoint is None or not re.match(pattern, export.domain_endpoint):
        return (
            "domain_endpoint",
            (
                f"{export.domain_endpoint!r} must be domain {name}'s "
                f"endpoint, https://search-{name}-<id>.{region}.es.amazonaws.com (or vpc-...)"
            ),
        )
    return None


def exporting_services_problem(
    export: OpenSearchLogExport | None, exporting: list[str]
) -> tuple[str, str] | None:
    """(where, reason) when services export logs with no destination, or the destination
    has no service exporting to it."""
    if export is None and exporting:
        return (
            f"services[{exporting[0]}].export_logs",
            "needs services_settings.log_export (the OpenSearch destination)",
        )
    if export is not None and not exporting and not export.flow_logs:
        return (
            "services_settings.log_export",
            "no service has export_logs=True and flow_logs is off: nothing would be exported",
        )
    return None


_DEFAULTS = OpenSearchLogExport(arn="")
