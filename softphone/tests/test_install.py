"""`pip install ./softphone` in a clean venv: the phone alone, no hotline, and every face works."""

import subprocess
import sys
from pathlib import Path

import pytest
import survey_app
from local_server import serving_in_thread

DISTRIBUTION = Path(__file__).resolve().parent.parent
HOTLINE_STACK = {"flask", "werkzeug", "sqlalchemy", "psycopg", "pypinyin", "cryptography"}
SCENARIO = """\
name: survey over {method}
dial: {{url: "/survey"}}
steps:
  - expect: "how likely are you to recommend us"
  - press: "5"
  - expect: "You chose 5."
"""
UNREACHABLE = ("Failed to establish", "No matching distribution", "Could not find a version")


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A venv holding only the softphone (and pytest, to collect scenario files with it)."""
    folder = tmp_path_factory.mktemp("clean") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", folder], check=True)
    python = folder / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet"]
        + [str(DISTRIBUTION), "pytest"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if install.returncode and any(words in install.stderr for words in UNREACHABLE):
        pytest.skip(f"the package index cannot be reached: {install.stderr.strip()[-200:]}")
    assert install.returncode == 0, install.stderr
    return folder / "bin"


def run(command, *arguments, cwd=None):
    return subprocess.run(
        [str(command), *map(str, arguments)], capture_output=True, text=True, timeout=120, cwd=cwd
    )


@pytest.mark.xdist_group("clean-venv")
def test_the_phone_installs_alone_and_dials_get_and_post_apps(venv, tmp_path):
    names = run(
        venv / "python",
        "-c",
        "import importlib.metadata as m; print(' '.join(d.metadata['Name'] for d in m.distributions()))",
    ).stdout.lower()
    assert "softphone" in names.split()
    assert not HOTLINE_STACK & set(names.split())
    assert run(venv / "softphone", "--help").returncode == 0
    assert run(venv / "python", "-c", "from softphone import Phone").returncode == 0  # the API
    for method, app in (("GET", survey_app.get_app), ("POST", survey_app.post_app)):
        path = tmp_path / f"{method}.call.yaml"
        path.write_text(SCENARIO.format(method=method))
        with serving_in_thread(app) as base:
            url, token = f"{base}/survey", ("--token", survey_app.TOKEN)
            tested = run(
                venv / "softphone", "test", path, "--url", base, "--method", method, *token
            )
            assert "1 passed, 0 failed" in tested.stdout, tested.stdout + tested.stderr
            linted = run(venv / "softphone", "lint", url, "--method", method, *token)
            assert linted.stdout.strip() == f"{url}: no findings", linted.stdout
            mapped = run(venv / "softphone", "map", url, "--method", method, *token)
            assert "Thanks for taking our survey" in mapped.stdout, mapped.stdout
            assert "FLAG" not in mapped.stdout + mapped.stderr
            collected = run(
                venv / "python", "-m", "pytest", "-p", "no:cacheprovider", path,
                "--softphone-url", base, "--softphone-token", survey_app.TOKEN,
                "--softphone-method", method, cwd=tmp_path,
            )  # fmt: skip
            assert "1 passed" in collected.stdout, collected.stdout
