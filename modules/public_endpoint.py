"""The ALB's public name: an ACM certificate validated through DNS, and the alias record.

`PublicEndpoint(domain, zone)` issues the certificate (its `.certificate_arn` resolves only once
ACM has validated it, so an HTTPS listener using it waits for validation); `point_at(lb)` creates
the alias A record for the domain (ACM User Guide, "DNS validation"; Route 53 Developer Guide,
"Routing traffic to an ELB load balancer").
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from engine.aws.acm_certificate import AcmCertificate, AcmCertificateOptions
from engine.aws.acm_certificate_validation import AcmCertificateValidation
from engine.aws.data_aws_route53_zone import DataAwsRoute53Zone
from engine.aws.route53_record import Route53Record, Route53RecordAlias
from engine.core import (
    Postcondition,
    Precondition,
    TerraformIterator,
    TerraformLocal,
    TerraformResourceLifecycle,
    Token,
)
from settings.rules import (
    PLACEHOLDER_PATTERN,
    RESERVED_DOMAIN_PATTERN,
    domain_problem,
    hosted_zone_id_problem,
)

VALIDATION_TTL = 60


@dataclass(frozen=True)
class PublicEndpointProps:
    """The domain and the public hosted zone it lives in (not managed here)."""

    domain: str
    hosted_zone_id: str
    setting: str = "https"
    """Where the settings hold these values, for plan-time errors (e.g. "environment 'prod':
    services_settings.https")."""


class PublicEndpoint(Construct):
    """DNS-validated certificate for one domain; exposes `.certificate_arn` (validated)."""

    def __init__(self, scope: Construct, id_: str, props: PublicEndpointProps) -> None:
        super().__init__(scope, id_)
        if problem := (
            domain_problem(props.domain) or hosted_zone_id_problem(props.hosted_zone_id)
        ):
            raise ValueError(problem)
        self._props = props
        self.zone = self._checked_zone()
        # A replacement certificate must exist before the listener lets go of the old one.
        self.certificate = AcmCertificate(
            self,
            "Certificate",
            domain_name=props.domain,
            validation_method="DNS",
            options=AcmCertificateOptions(certificate_transparency_logging_preference="ENABLED"),
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        # One CNAME per validation option (one domain here): cdktf's documented iterator
        # pattern for ACM DNS validation.
        options = TerraformIterator.from_complex_list(
            self.certificate.domain_validation_options, "domain_name"
        )
        records = Route53Record(
            self,
            "ValidationRecord",
            for_each=options,
            zone_id=self.zone.zone_id,
            name=options.get_string("resource_record_name"),
            type=options.get_string("resource_record_type"),
            records=[options.get_string("resource_record_value")],
            ttl=VALIDATION_TTL,
            allow_overwrite=True,
        )
        self.validation = AcmCertificateValidation(
            self,
            "Validation",
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=Token.as_list(
                TerraformIterator.from_resources(records).pluck_property("fqdn")
            ),
        )
        self.certificate_arn = self.validation.certificate_arn
        self.domain = props.domain

    def _checked_zone(self) -> DataAwsRoute53Zone:
        """The hosted zone, looked up at plan: a placeholder, a missing zone (NoSuchHostedZone)
        or a zone that does not hold the domain fails `terraform plan`, before the ALB, the
        certificate or any service exists (Terraform "Custom conditions": preconditions of a
        data source are checked before it is read, postconditions right after)."""
        props = self._props
        # A condition must refer to some object of the configuration: locals hold the values.
        zone_id = TerraformLocal(self, "HostedZoneId", props.hosted_zone_id)
        domain = TerraformLocal(self, "Domain", props.domain)
        zone_setting, domain_setting = (
            f"{props.setting}.hosted_zone_id",
            f"{props.setting}.domain",
        )
        return DataAwsRoute53Zone(
            self,
            "HostedZone",
            zone_id=zone_id.as_string,
            lifecycle=TerraformResourceLifecycle(
                precondition=[
                    Precondition(
                        condition=f"${{!can(regex({_hcl(PLACEHOLDER_PATTERN)}, "
                        f"{_expr(zone_id)}))}}",
                        error_message=f"{zone_setting}: {props.hosted_zone_id!r} is a "
                        "placeholder: set the id of your public hosted zone",
                    ),
                    Precondition(
                        condition=f"${{!can(regex({_hcl(RESERVED_DOMAIN_PATTERN)}, "
                        f"{_expr(domain)}))}}",
                        error_message=f"{domain_setting}: {props.domain!r} is a reserved "
                        "example name (RFC 2606): set your real domain",
                    ),
                ],
                postcondition=[
                    Postcondition(
                        condition=(
                            f"${{!self.private_zone && ({_expr(domain)} == self.name || "
                            f'endswith({_expr(domain)}, ".${{self.name}}"))}}'
                        ),
                        error_message=(
                            f"{zone_setting}: zone {props.hosted_zone_id} is private or "
                            f"does not hold {props.domain} ({domain_setting})"
                        ),
                    )
                ],
            ),
        )

    def point_at(self, dns_name: str, zone_id: str) -> Route53Record:
        """An alias A record `domain -> the load balancer` (evaluating its health)."""
        self.alias = Route53Record(
            self,
            "Alias",
            zone_id=self.zone.zone_id,
            name=self._props.domain,
            type="A",
            alias=Route53RecordAlias(name=dns_name, zone_id=zone_id, evaluate_target_health=True),
        )
        return self.alias


def _expr(local: TerraformLocal) -> str:
    """The bare HCL expression of a local (`local.<id>`), for use inside `${...}`."""
    return str(local.fqn)


def _hcl(text: str) -> str:
    """A quoted HCL string literal (JSON quoting, which HCL reads the same way)."""
    import json

    return json.dumps(text)
