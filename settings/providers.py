"""The hashicorp/aws release every stack pins, on either engine: one constant.

`make provider` builds exactly this release from Go modules (tools/provider/go.mod maps it to a
module version and the build checks that the module's source is this release), so `make
validate` and `make rehearse` run the provider users get from the registry. The engines'
prebuilt bindings wrap other 6.x releases (cdktf 6.25.0, CDK Terrain 6.69.1); every argument
they generate for this project is checked against this one by `make validate` (README
"Validate").
"""

from __future__ import annotations

AWS_PROVIDER_VERSION = "6.48.0"
"""The Go module proxy serves terraform-provider-aws only as v1.60.0 and the pseudo-version
v1.60.1-0.20260602190131-5f2286d6d836 (403 Forbidden for every v6 tag): that commit's
CHANGELOG.md heads its changes `## 6.48.0 (Unreleased)` (version/VERSION says 6.47.1, the
post-6.47.0 placeholder), i.e. 6.47.0 plus the commits that went into 6.48.0."""
