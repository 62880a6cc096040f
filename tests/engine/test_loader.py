"""engine/: engine selection, and the provider loader that skips the package's __init__.py.

The layout checks run against a small fake provider package (its __init__.py raises if run);
one test loads the real pinned provider in a child process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import engine
from engine import Engine, EngineError, loader

ROOT = Path(__file__).resolve().parents[2]


# What node's engine/lazy_exports.js does when jsii loads the real assembly: list it as lazy.
FAKE_PRELOAD = (
    "from pathlib import Path\nfrom engine import loader\n"
    "Path(loader._lazy_report).write_text('@fake/provider-aws 120\\n')\n"
)


def _fake_engine(
    tmp_path: Path,
    monkeypatch,
    *,
    assembly_version="1.0.0",
    installed="1.0.0",
    jsii=True,
    preload=True,
) -> Engine:
    """A fake core + provider distribution on sys.path, pinned in a requirements file."""
    site = tmp_path / "site"
    for dist, version in (("fakecore", "2.0.0"), ("fakeprov", installed)):
        info = site / f"{dist}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    package = site / "fakeprov"
    (package / "widget").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('the package __init__ ran')\n")
    (package / "widget" / "__init__.py").write_text("from .._jsii import *\nclass Widget: pass\n")
    (site / "fakecore.py").write_text("")
    if jsii:
        (package / "_jsii").mkdir()
        (package / "_jsii" / "__init__.py").write_text(
            (FAKE_PRELOAD if preload else "") + "import types\n__jsii_assembly__ = "
            f"types.SimpleNamespace(name='@fake/provider-aws', version={assembly_version!r})\n"
        )
    requirements = tmp_path / "requirements-fake.txt"
    requirements.write_text("fakecore==2.0.0\nfakeprov==1.0.0  # the provider\n")
    monkeypatch.syspath_prepend(str(site))
    for name in [m for m in sys.modules if m.split(".")[0] in ("fakeprov", "fakecore")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(loader, "_lazy_report", None)
    monkeypatch.delenv(engine.PLAIN_VARIABLE, raising=False)
    fake = Engine(
        name="fake",
        core="fakecore",
        core_dist="fakecore",
        provider="fakeprov",
        provider_dist="fakeprov",
        assembly="@fake/provider-aws",
        requirements=str(requirements),
        venv=".venv-fake",
    )
    monkeypatch.setattr(loader, "selected", lambda: fake)
    return fake


@pytest.fixture
def clean_fakeprov():
    """Forget the fake package and its alias afterwards (real names are never touched)."""
    yield
    for name in [m for m in sys.modules if m.split(".")[0] in ("fakeprov", "fakecore")]:
        del sys.modules[name]
    sys.modules.pop("engine.aws.widget", None)
    if "engine.aws" in sys.modules:
        vars(sys.modules["engine.aws"]).pop("widget", None)


def test_default_engine_is_cdktf_and_an_unknown_one_is_one_clear_error(monkeypatch):
    monkeypatch.delenv(engine.ENGINE_VARIABLE, raising=False)
    assert engine.selected().name == "cdktf"
    monkeypatch.setenv(engine.ENGINE_VARIABLE, "cdktn")
    assert engine.selected().provider == "cdktn_provider_aws"
    monkeypatch.setenv(engine.ENGINE_VARIABLE, "terraform-cdk")
    with pytest.raises(EngineError, match="not an engine; choose one of cdktf, cdktn"):
        engine.selected()


def test_every_engine_pins_its_core_and_provider_exactly():
    for eng in engine.ENGINES.values():
        pins = eng.pins()
        assert pins.get(eng.core_dist) and pins.get(eng.provider_dist), eng.requirements


def test_submodule_loads_without_running_the_package_init(tmp_path, monkeypatch, clean_fakeprov):
    _fake_engine(tmp_path, monkeypatch)
    widget = loader.provider_submodule("widget")
    assert widget.__name__ == "fakeprov.widget" and widget.Widget.__name__ == "Widget"
    assert sys.modules["fakeprov._jsii"].__jsii_assembly__.version == "1.0.0"


def test_the_alias_is_the_provider_module_itself(tmp_path, monkeypatch, clean_fakeprov):
    _fake_engine(tmp_path, monkeypatch)
    from engine.aws.widget import Widget

    assert Widget is sys.modules["fakeprov.widget"].Widget
    assert sys.modules["engine.aws.widget"] is sys.modules["fakeprov.widget"]


def test_an_unknown_submodule_is_a_module_not_found_error(tmp_path, monkeypatch, clean_fakeprov):
    _fake_engine(tmp_path, monkeypatch)
    with pytest.raises(ModuleNotFoundError, match="fakeprov has no submodule 'widgte'"):
        loader.provider_submodule("widgte")


def test_an_assembly_other_than_the_pinned_one_fails_loudly(tmp_path, monkeypatch, clean_fakeprov):
    _fake_engine(tmp_path, monkeypatch, assembly_version="1.1.0")
    with pytest.raises(EngineError, match=r"loaded assembly .*'1\.1\.0'.*ECS_ENGINE_PLAIN=1"):
        loader.provider_submodule("widget")
    assert "fakeprov" not in sys.modules, "a half-loaded package must not stay importable"


def test_a_package_without_the_jsii_loader_fails_loudly(tmp_path, monkeypatch, clean_fakeprov):
    _fake_engine(tmp_path, monkeypatch, jsii=False)
    with pytest.raises(EngineError, match="no `_jsii` subpackage"):
        loader.provider_submodule("widget")


def test_a_node_side_left_eager_fails_loudly(tmp_path, monkeypatch, clean_fakeprov):
    """If the preload did not make the provider's JS exports lazy, say so (not just slower)."""
    _fake_engine(tmp_path, monkeypatch, preload=False)
    with pytest.raises(EngineError, match=r"without engine/lazy_exports\.js"):
        loader.provider_submodule("widget")


def test_core_starts_node_with_the_preload_and_leaves_the_environment_as_it_was(
    tmp_path, monkeypatch, clean_fakeprov
):
    _fake_engine(tmp_path, monkeypatch)
    monkeypatch.setenv("NODE_OPTIONS", "--max-http-header-size=16384")
    (tmp_path / "site" / "fakecore.py").write_text(
        "import os\nSEEN = os.environ['NODE_OPTIONS'], os.environ['ECS_ENGINE_LAZY_EXPORTS']\n"
    )
    seen = loader.core().SEEN
    assert seen[0].startswith("--max-http-header-size=16384 --require ")
    assert seen[0].endswith(f'"{loader.LAZY_EXPORTS_JS}"') and seen[1] == '["@fake/provider-aws"]'
    assert os.environ["NODE_OPTIONS"] == "--max-http-header-size=16384"
    assert "ECS_ENGINE_LAZY_EXPORTS" not in os.environ


def test_an_installed_version_other_than_the_pin_is_refused(tmp_path, monkeypatch, clean_fakeprov):
    _fake_engine(tmp_path, monkeypatch, installed="1.0.1")
    with pytest.raises(EngineError, match=r"fakeprov 1\.0\.1 is installed but .* pins 1\.0\.0"):
        loader.provider_submodule("widget")


def test_an_engine_that_is_not_installed_names_its_venv(tmp_path, monkeypatch, clean_fakeprov):
    fake = _fake_engine(tmp_path, monkeypatch)
    missing = dataclasses.replace(fake, provider_dist="notinstalled")
    Path(fake.requirements).write_text("fakecore==2.0.0\nnotinstalled==1.0.0\n")
    with pytest.raises(EngineError, match=r"needs notinstalled==1\.0\.0.*\.venv-fake/bin/python"):
        loader.check_installed(missing)


def test_plain_mode_imports_the_package_whole(tmp_path, monkeypatch, clean_fakeprov):
    _fake_engine(tmp_path, monkeypatch)
    monkeypatch.setenv(engine.PLAIN_VARIABLE, "1")
    with pytest.raises(RuntimeError, match="the package __init__ ran"):
        loader.provider_submodule("widget")


PROBE = """
import json, sys
from engine.aws.vpc import Vpc
import engine
eng = engine.selected()
package = sys.modules[eng.provider]
assembly = sys.modules[eng.provider + "._jsii"].__jsii_assembly__
print(json.dumps({
    "class_module": Vpc.__module__,
    "init_ran": hasattr(package, "__all__"),
    "provider_modules": sorted(m for m in sys.modules if m.split(".")[0] == eng.provider
                               and not m.endswith("._private")),  # publication's shadows
    "assembly": [assembly.name, assembly.version],
}))
"""


def test_the_pinned_provider_loads_only_what_is_asked_for():
    """The real package, in a fresh interpreter: the assembly plus one submodule, nothing else."""
    env = {k: v for k, v in os.environ.items() if k != engine.PLAIN_VARIABLE}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=env,
    )
    facts = json.loads(done.stdout)
    eng = engine.selected()
    assert facts["class_module"] == f"{eng.provider}.vpc"
    assert facts["init_ran"] is False
    assert facts["provider_modules"] == [
        eng.provider,
        f"{eng.provider}._jsii",
        f"{eng.provider}.vpc",
    ]
    assert facts["assembly"] == [eng.assembly, eng.pins()[eng.provider_dist]]
