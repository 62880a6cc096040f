"""Reusable constructs, one per AWS concept; each takes a frozen dataclass of props."""

# The selected engine's core before anything else: a construct module imports `constructs`
# (third-party, so the import sorter puts it first), and `constructs` starts the jsii kernel,
# which must happen after engine.core has set up the provider's lazy exports (engine/loader.py).
import engine.core  # noqa: F401
