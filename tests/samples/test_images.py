"""What every sample Dockerfile must hold to, checked without a Docker engine."""

from __future__ import annotations

import pytest

from samples import contract
from tests.samples.image import ROOT, Image, dockerfile

SAMPLES = ("web", "worker")


@pytest.mark.parametrize("sample", SAMPLES)
def test_image_is_slim_non_root_with_health_check_and_exec_entry_point(sample):
    image = Image.load(dockerfile(sample))  # refuses shell-form ENTRYPOINT/CMD/HEALTHCHECK
    assert image.base == "python:3.11-slim"
    assert image.user == f"{contract.APP_UID}:{contract.APP_UID}"
    assert image.healthcheck and image.healthcheck_options["timeout"]
    assert image.entrypoint == ["python", "-m", f"samples.{sample}"]
    assert image.env["PYTHONUNBUFFERED"] == "1"  # log lines reach awslogs as they are written
    for sources, _ in image.copies:
        for source in sources:
            assert (ROOT / source).exists(), source


def test_image_parser_refuses_the_shell_form(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("FROM python:3.11-slim\nENTRYPOINT python -m samples.web\n")
    with pytest.raises(AssertionError, match="exec"):
        Image.load(path)
