"""HTTPS where it matters (ACM + DNS validation + redirect + alias) and the optional WAF."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from settings.schema import HttpsSettings, WafSettings
from settings.services import DeploymentSpec, Rollout, TestListener
from settings.validation import validate
from tests.synth_helpers import SynthOutput
from tests.tables import SAMPLE as ENVIRONMENTS

ENVS = {e.name: e for e in ENVIRONMENTS}
HTTPS = [e.name for e in ENVIRONMENTS if e.services_settings.https]
PLAIN = [e.name for e in ENVIRONMENTS if not e.services_settings.https]
WAF = [e.name for e in ENVIRONMENTS if e.services_settings.waf]
NO_WAF = [e.name for e in ENVIRONMENTS if not e.services_settings.waf]
MANAGED = [
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
]


def _skips(resource):
    return {
        line.split("=", 1)[1].split(":", 1)[0]
        for line in resource.get("//", {}).get("checkov_skip", [])
    }


def _listeners(stack):
    return {v["port"]: (k, v) for k, v in stack.resources("aws_lb_listener").items()}


def assert_https_endpoint(stack, domain, zone_id):
    """Certificate validated in the zone, HTTPS listener on the validated ARN, 80 redirects,
    alias record to the ALB."""
    cert_id, cert = stack.one("aws_acm_certificate")
    assert (cert["domain_name"], cert["validation_method"]) == (domain, "DNS")
    assert cert["lifecycle"] == {"create_before_destroy": True}
    assert cert["options"] == {"certificate_transparency_logging_preference": "ENABLED"}
    records = {v["type"]: (k, v) for k, v in stack.resources("aws_route53_record").items()}
    assert len(records) == 2, "one validation record set, one alias"
    validation_id, validation = stack.one("aws_acm_certificate_validation")
    assert validation["certificate_arn"] == stack.ref("aws_acm_certificate", cert_id, "arn")
    record_id, record = records["${each.value.resource_record_type}"]
    assert record["for_each"] == (
        f"${{{{ for key, val in tolist(aws_acm_certificate.{cert_id}.domain_validation_options): "
        "val.domain_name => val }}"
    )
    assert (record["name"], record["type"], record["records"]) == (
        "${each.value.resource_record_name}",
        "${each.value.resource_record_type}",
        ["${each.value.resource_record_value}"],
    )
    # Records go into the zone looked up at plan (a missing or placeholder zone fails plan).
    ((lookup_id, lookup),) = stack.data("aws_route53_zone").items()
    local = lookup["zone_id"].removeprefix("${local.").removesuffix("}")
    assert stack.doc["locals"][local] == zone_id
    assert record["zone_id"] == f"${{data.aws_route53_zone.{lookup_id}.zone_id}}"
    assert validation["validation_record_fqdns"] == (
        f"${{[ for key, val in aws_route53_record.{record_id}: val.fqdn]}}"
    )
    listeners = _listeners(stack)
    https_id, https = listeners[443]
    assert https["protocol"] == "HTTPS"
    assert https["certificate_arn"] == stack.ref(
        "aws_acm_certificate_validation", validation_id, "certificate_arn"
    )
    assert https["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    _, http = listeners[80]
    assert http["default_action"] == [
        {
            "type": "redirect",
            "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"},
        }
    ]
    assert not _skips(https) and not _skips(http)
    lb_id, lb = stack.one("aws_lb")
    assert "CKV2_AWS_20" not in _skips(lb)
    _, alias = records["A"]
    assert (alias["name"], alias["zone_id"]) == (domain, record["zone_id"])
    assert alias["alias"] == {
        "name": stack.ref("aws_lb", lb_id, "dns_name"),
        "zone_id": stack.ref("aws_lb", lb_id, "zone_id"),
        "evaluate_target_health": True,
    }
    assert stack.doc["output"]["url"]["value"] == f"https://{domain}"
    return https_id


def test_prod_is_a_production_env_with_https_at_a_marked_placeholder():
    prod = ENVS["prod"]
    assert prod.production and not ENVS["dev"].production and not ENVS["staging"].production
    assert prod.services_settings.https == HttpsSettings("app.example.com", "Z0PLACEHOLDER0PROD")
    source = (Path(__file__).resolve().parents[2] / "settings" / "environments.py").read_text()
    assert "PLACEHOLDER domain and hosted zone id" in source


@pytest.mark.parametrize("env", HTTPS)
def test_https_env_serves_a_dns_validated_certificate_and_redirects(synth, env):
    https = ENVS[env].services_settings.https
    stack = synth.stack(f"services-{env}")
    https_id = assert_https_endpoint(stack, https.domain, https.hosted_zone_id)
    # Every rule, the traffic-shifting production rule included, is on the HTTPS listener.
    for rule in stack.resources("aws_lb_listener_rule").values():
        assert rule["listener_arn"] == stack.ref("aws_lb_listener", https_id, "arn")


@pytest.mark.parametrize("env", PLAIN)
def test_plain_http_env_has_no_certificate_and_keeps_its_justified_skips(synth, env):
    stack = synth.stack(f"services-{env}")
    assert not stack.resources("aws_acm_certificate") and not stack.resources("aws_route53_record")
    (port,) = _listeners(stack)
    _, listener = _listeners(stack)[port]
    assert (port, listener["protocol"]) == (80, "HTTP")
    assert _skips(listener) == {"CKV_AWS_2", "CKV_AWS_103"}
    assert not ENVS[env].production, "settings refuse a plain-HTTP production env"


@pytest.mark.parametrize("env", WAF)
def test_waf_env_attaches_managed_rules_and_a_rate_limit_and_logs_redacted(synth, env):
    waf = ENVS[env].services_settings.waf
    stack = synth.stack(f"services-{env}")
    acl_id, acl = stack.one("aws_wafv2_web_acl")
    assert (acl["scope"], acl["default_action"]) == ("REGIONAL", {"allow": {}})
    rules = sorted(acl["rule"], key=lambda r: r["priority"])
    managed = [r for r in rules if "managed_rule_group_statement" in r["statement"]]
    expected = MANAGED + (["AWSManagedRulesAnonymousIpList"] if waf.block_anonymous_ips else [])
    assert [r["statement"]["managed_rule_group_statement"] for r in managed] == [
        {"name": name, "vendor_name": "AWS"} for name in expected
    ]
    assert all(r["override_action"] == {"none": {}} for r in managed)
    (rate,) = [r for r in rules if "rate_based_statement" in r["statement"]]
    assert rate["statement"]["rate_based_statement"] == {
        "limit": waf.rate_limit,
        "aggregate_key_type": "IP",
    }
    assert rate["action"] == {"block": {}} and rate["priority"] == len(rules) - 1
    assert all(r["visibility_config"]["cloudwatch_metrics_enabled"] for r in rules)
    lb_id, lb = stack.one("aws_lb")
    _, association = stack.one("aws_wafv2_web_acl_association")
    assert association == {
        **association,
        "resource_arn": stack.ref("aws_lb", lb_id, "arn"),
        "web_acl_arn": stack.ref("aws_wafv2_web_acl", acl_id, "arn"),
    }
    assert "CKV2_AWS_28" not in _skips(lb)
    _, logging = stack.one("aws_wafv2_web_acl_logging_configuration")
    ((group_id, group),) = [
        (k, v)
        for k, v in stack.resources("aws_cloudwatch_log_group").items()
        if v["name"].startswith("aws-waf-logs-")
    ]
    assert group["name"] == f"aws-waf-logs-{env}-platform-alb"
    assert group["retention_in_days"] == ENVS[env].services_settings.log_retention_days
    assert logging["log_destination_configs"] == [
        stack.ref("aws_cloudwatch_log_group", group_id, "arn")
    ]
    assert logging["resource_arn"] == stack.ref("aws_wafv2_web_acl", acl_id, "arn")
    assert logging["redacted_fields"] == [
        {"single_header": {"name": "authorization"}},
        {"single_header": {"name": "cookie"}},
    ]


@pytest.mark.parametrize("env", NO_WAF)
def test_no_waf_env_keeps_its_justified_skip(synth, env):
    stack = synth.stack(f"services-{env}")
    assert not stack.resources("aws_wafv2_web_acl")
    _, lb = stack.one("aws_lb")
    assert "CKV2_AWS_28" in _skips(lb)


@pytest.fixture(scope="module")
def secured_dev(synth, tmp_path_factory) -> SynthOutput:
    """dev with HTTPS, a WAF that blocks anonymous IPs, and web blue/green with a test
    listener, synthesized by main.build_app."""
    from main import build_app

    dev = ENVS["dev"]
    web, worker = dev.services
    env = validate(
        replace(
            dev,
            services_settings=replace(
                dev.services_settings,
                https=HttpsSettings("dev.example.org", "Z123DEV"),
                waf=WafSettings(rate_limit=500, block_anonymous_ips=True),
                service_connect=True,
            ),  # worker calls the shifting web: its calls shift too
            services=(
                web.with_(
                    deployment=DeploymentSpec(
                        strategy=Rollout.BLUE_GREEN,
                        test_listener=TestListener(9443, ("10.0.0.0/8",)),
                    )
                ),
                worker,
            ),
        )
    )
    outdir = tmp_path_factory.mktemp("secured")
    build_app([env], str(outdir)).synth()
    return SynthOutput(outdir)


def test_any_env_can_have_https_and_its_test_listener_is_https_too(secured_dev):
    stack = secured_dev.stack("services-dev")
    assert_https_endpoint(stack, "dev.example.org", "Z123DEV")
    _, test = _listeners(stack)[9443]
    _, https = _listeners(stack)[443]
    assert test["protocol"] == "HTTPS" and test["certificate_arn"] == https["certificate_arn"]
    assert test["ssl_policy"] == https["ssl_policy"] and not _skips(test)


def test_blocking_anonymous_ips_adds_the_group_and_drops_the_skip(secured_dev):
    stack = secured_dev.stack("services-dev")
    _, acl = stack.one("aws_wafv2_web_acl")
    names = [
        r["statement"].get("managed_rule_group_statement", {}).get("name")
        for r in sorted(acl["rule"], key=lambda r: r["priority"])
    ]
    assert names == [*MANAGED, "AWSManagedRulesAnonymousIpList", None]
    _, lb = stack.one("aws_lb")
    assert not {"CKV2_AWS_76", "CKV2_AWS_28", "CKV2_AWS_20"} & _skips(lb)
    assert json.dumps(acl).count("RateLimitPerIp") == 2  # rule name and metric name
