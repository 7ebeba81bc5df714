"""The pytest plugin, as a team uses it: `*.call.yaml` files collected beside their own tests."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import survey_app
from local_server import serving_in_thread

HERE = Path(__file__).parent
PASSING = """\
name: {name}
tags: [{tag}]
dial: {{url: "/survey", method: {method}}}
steps:
  - expect: "how likely are you to recommend us"
  - press: "5"
  - expect: "You chose 5."
"""
FAILING = 'name: wrong\ndial: {url: "/survey", method: GET}\nsteps:\n  - expect: "Welcome"\n'


def pytest_in(folder, *arguments):
    """Run pytest in a folder of the team's own, as they would; return what it printed."""
    environment = {**os.environ, "PYTHONPATH": str(HERE)}  # where survey_app lives
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(folder)]
        + list(arguments),
        cwd=folder, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def scenarios(folder, method="GET"):
    (folder / "smoke.call.yaml").write_text(
        PASSING.format(name="smoke", tag="smoke", method=method)
    )
    (folder / "slow.call.yaml").write_text(PASSING.format(name="slow", tag="slow", method=method))
    (folder / "notes.yaml").write_text("not a scenario: only *.call.yaml files are collected")


def test_scenarios_are_test_items_with_markers_xdist_and_junit_against_a_url(tmp_path):
    scenarios(tmp_path)
    (tmp_path / "wrong.call.yaml").write_text(FAILING)
    report = tmp_path / "junit.xml"
    with serving_in_thread(survey_app.get_app) as base:
        options = ["--softphone-url", base, "--softphone-token", survey_app.TOKEN]
        run = pytest_in(tmp_path, *options, "-n", "2", "--strict-markers", f"--junitxml={report}")
        assert "1 failed, 2 passed" in run.stdout, run.stdout + run.stderr
        # The failure reads as `softphone test` prints it, with no traceback.
        assert "step 1: expected expect 'Welcome': not heard; last heard: Thanks" in run.stdout
        assert "Traceback" not in run.stdout
        cases = {case.get("name") for case in ET.parse(report).iter("testcase")}
        assert cases == {"smoke", "slow", "wrong"}
        smoke = pytest_in(tmp_path, *options, "-m", "smoke", "-q")
        assert "1 passed, 2 deselected" in smoke.stdout, smoke.stdout
        chosen = pytest_in(tmp_path, *options, "-k", "slow", "-q")
        assert "1 passed, 2 deselected" in chosen.stdout, chosen.stdout


def test_conftest_points_the_scenarios_at_an_app_in_process(tmp_path):
    scenarios(tmp_path, method="POST")
    (tmp_path / "conftest.py").write_text(
        "import pytest\nimport survey_app\nfrom softphone.runner import Targets\n\n\n"
        "@pytest.fixture\ndef softphone_target():\n"
        "    return Targets(app=survey_app.post_app, token=survey_app.TOKEN)\n"
    )
    run = pytest_in(tmp_path, "-q")
    assert "2 passed" in run.stdout, run.stdout + run.stderr


def test_a_file_that_cannot_be_read_is_an_error_not_a_failure(tmp_path):
    (tmp_path / "broken.call.yaml").write_text("steps: [")
    (tmp_path / "typo.call.yaml").write_text('steps:\n  - presss: "1"\n')
    run = pytest_in(tmp_path, "-q")
    assert run.returncode == 2  # pytest's exit status for errors in collection
    assert "2 errors" in run.stdout, run.stdout
    assert "broken.call.yaml: not valid YAML at line 1" in run.stdout
    assert "typo.call.yaml: step 1: unknown field 'presss'" in run.stdout
