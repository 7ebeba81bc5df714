"""The pytest plugin: every `*.call.yaml` file is a test item, run as `softphone test` runs it.

Point the calls at an app with `--softphone-url URL` or `--softphone-app MODULE:NAME` (or the
ini options of the same names), or from `conftest.py` by overriding the `softphone_target`
fixture. A scenario's `tags` become markers, so `-m`, `-k`, `-n` and `--junitxml` work as they
do for any test.
"""

import pytest

from softphone import dialer
from softphone import runner
from softphone import scenario as scenarios
from softphone import settings

SUFFIXES = (".call.yaml", ".call.yml")


def pytest_addoption(parser):
    group = parser.getgroup("softphone", "softphone scenarios (*.call.yaml)")
    options = (
        ("url", "dial this URL for every scenario (relative dial URLs join it)"),
        ("app", "the WSGI app to dial in-process, as MODULE:NAME (default app:app)"),
        ("token", "auth token to sign with (default: $TWILIO_AUTH_TOKEN)"),
    )
    for name, help_text in options:
        group.addoption(f"--softphone-{name}", dest=f"softphone_{name}", help=help_text)
        parser.addini(f"softphone_{name}", help_text)
    for name in settings.NUMBER_DEFAULTS:  # the number's settings, as `softphone test` takes them
        word = settings.DIAL_NAMES.get(name, name)
        flag = f"--softphone-{word.replace('_', '-')}"
        group.addoption(flag, dest=f"softphone_number_{name}", help=f"the number's {word}")
    group.addoption(
        "--softphone-strict",
        action="store_true",
        dest="softphone_strict",
        help="lint findings in the app's TwiML fail a scenario",
    )


def setting(config, name):
    """A setting from the command line, else the ini file, else None."""
    return config.getoption(f"softphone_{name}") or config.getini(f"softphone_{name}") or None


def pytest_collect_file(file_path, parent):
    if file_path.name.endswith(SUFFIXES):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def softphone_target(pytestconfig):
    """Pick each scenario's target (a `runner.Targets`); override it in conftest.py."""
    return runner.Targets(
        setting(pytestconfig, "url"),
        setting(pytestconfig, "app"),
        setting(pytestconfig, "token") or dialer.default_token(),
    )


class ScenarioFile(pytest.File):
    """A scenario file: one test item, marked with its tags."""

    def collect(self):
        try:
            scenario = scenarios.load(self.path)
        except scenarios.ScenarioError as error:
            raise self.CollectError(str(error)) from None  # an error, not a failure
        item = pytest.Function.from_parent(self, name=scenario.name, callobj=_runner_for(scenario))
        for tag in scenario.tags:
            self.config.addinivalue_line("markers", f"{tag}: a softphone scenario tag")
            item.add_marker(tag)
        yield item


def number_of(config):
    """The number's settings given on the command line, or None."""
    given = {
        name: config.getoption(f"softphone_number_{name}") for name in settings.NUMBER_DEFAULTS
    }
    given = {name: value for name, value in given.items() if value is not None}
    if "agent_after" in given:
        given["agent_after"] = float(given["agent_after"])
    return settings.Number(**given) if given else None


def _runner_for(scenario):
    def run_scenario(softphone_target, pytestconfig):
        strict = pytestconfig.getoption("softphone_strict")
        number = number_of(pytestconfig)
        result = runner.run(scenario, softphone_target(scenario), strict, number)
        if not result.passed:
            pytest.fail(result.failure, pytrace=False)

    run_scenario.__doc__ = scenario.name
    return run_scenario
