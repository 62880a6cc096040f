"""The selected engine's AWS provider bindings: `from engine.aws.vpc import Vpc`.

Each `engine.aws.<name>` is resolved by engine/_aliases.py to the provider package's `<name>`
submodule, loaded by engine/loader.py without the package's import-everything `__init__.py`.
"""
