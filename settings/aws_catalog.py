"""What AWS offers, from data that ships with a pinned dependency or a documented table.

Regions come from botocore's `endpoints.json` (the partitions botocore knows), instance types
from the EC2 service model's `InstanceType` enum (both in botocore, pinned in requirements.txt),
so a typo like `us-west-9` or `t3.mediun` fails at synth. Whether a region offers a type, and
which AZs an account has, only AWS knows: the network and cluster stacks check those at plan
(`aws_availability_zones`, `aws_ec2_instance_type_offerings`) with an error naming the setting.

How many awsvpc tasks an instance holds is not in botocore: `TASK_ENIS` is a small table from
the AWS docs, for the types the capacity rule has been given numbers for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
"""Partitions whose regions an env may use (the ISO partitions need a provider set up for
their own endpoints and are not supported here)."""


@lru_cache(maxsize=1)
def regions() -> frozenset[str]:
    """Every region of `PARTITIONS` that the pinned botocore knows."""
    from botocore.loaders import Loader

    endpoints = Loader().load_data("endpoints")
    return frozenset(
        region
        for partition in endpoints["partitions"]
        if partition["partition"] in PARTITIONS
        for region in partition["regions"]
    )


@lru_cache(maxsize=1)
def instance_types() -> frozenset[str]:
    """Every instance type name of the EC2 API model (`InstanceType` enum) in the pinned
    botocore; a type newer than that botocore needs a botocore upgrade."""
    from botocore.loaders import Loader

    model = Loader().load_service_model("ec2", "service-2")
    return frozenset(model["shapes"]["InstanceType"]["enum"])


@dataclass(frozen=True)
class TaskEnis:
    """awsvpc task slots of one instance type: each task takes an ENI of its own."""

    without_trunking: int
    """The type's maximum network interfaces less the primary one (EC2 User Guide, "Maximum
    IP addresses per network interface": https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/
    AvailableIpPerENI.html)."""
    with_trunking: int | None
    """Task ENIs with the `awsvpcTrunking` account setting on; None where ECS does not support
    trunking for the type (ECS Developer Guide, "Supported instance types":
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/
    eni-trunking-supported-instance-types.html; the t family is not supported)."""

    def slots(self, trunking: bool) -> int:
        """Tasks one instance holds, by ENIs alone."""
        if trunking and self.with_trunking is not None:
            return self.with_trunking
        return self.without_trunking


_LARGE_TRUNKED = TaskEnis(without_trunking=2, with_trunking=10)
"""Every `.large` below has 3 network interfaces; ECS trunking raises its task ENIs to 10
(the ECS guide's example: "a c5.large instance with awsvpcTrunking has an increased ENI limit
of twelve", less the primary and the trunk interface)."""

TASK_ENIS: dict[str, TaskEnis] = {
    # t3/t3a: 3 interfaces (medium, large), 4 (xlarge); no trunking.
    "t3.medium": TaskEnis(2, None),
    "t3.large": TaskEnis(2, None),
    "t3.xlarge": TaskEnis(3, None),
    "t3a.medium": TaskEnis(2, None),
    "t3a.large": TaskEnis(2, None),
    "t3a.xlarge": TaskEnis(3, None),
    "t4g.medium": TaskEnis(2, None),
    "t4g.large": TaskEnis(2, None),
    **{
        f"{family}.large": _LARGE_TRUNKED
        for family in (
            "c5",
            "c5a",
            "c6i",
            "c6a",
            "c7i",
            "m5",
            "m5a",
            "m6i",
            "m6a",
            "m7i",
            "r5",
            "r5a",
            "r6i",
            "r6a",
            "r7i",
            "c6g",
            "c7g",
            "m6g",
            "m7g",
            "r6g",
            "r7g",
        )
    },
}
"""Task ENI limits per instance type, for the types given numbers so far. To add one, look up
its "maximum network interfaces" (AvailableIpPerENI page above, or `aws ec2
describe-instance-types --instance-types T --query
'InstanceTypes[].NetworkInfo.MaximumNetworkInterfaces'`) and its trunking row in the ECS table,
and add a line here citing both."""
