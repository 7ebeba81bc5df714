"""Every shell command in the README and the softphone's guide works as written.

The README's commands run from the clone, against the demo accounts on a store of the test's
own, with `make run`'s server played by the app served in a thread (127.0.0.1:5000 becomes its
address). The guide's commands are for a team's own app: they run in a folder of the test's
that stands for the team's project, with `softphone` and `pytest` from the venv on the PATH,
its placeholders (`https://your-host`, `myapp:app`) standing for the line and a survey app in
the manner of Twilio's samples. A command not run here says which test covers it instead.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import survey_app
from local_server import serving_in_thread

from ivr import create_app
from tests.conftest import TEST_SCRYPT_N

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "README.md", ROOT / "softphone" / "README.md")
TOKEN = "docs-token"
# Commands these docs show that this test does not run, and what runs them instead.
COVERED_ELSEWHERE = {
    "make run": "serves until stopped; test_quickstart seeds, serves and dials as it does",
    "make test": "CI itself: .ci/run calls it",
    "make audio": "renders prompts with espeak-ng; test_audio's render tests run the command",
    "make audio FORCE=1": "as make audio, every prompt",
    ".venv/bin/flask --app app audio render --lang zh": "as make audio, one language",
    "python3 -m venv .venv && . .venv/bin/activate": "softphone/tests/test_install.py",
    "pip install ./softphone": "softphone/tests/test_install.py installs it in a clean venv",
    "pip install './softphone[audio]'": "test_install (the extra adds pydub, which make test has)",
    "pip install './softphone[sip]'": "the extra adds pjsua2, which make test installs; test_sip",
}
# Servers that run until stopped: the tests named run them.
SERVERS = {
    "softphone sip": "softphone/tests/test_sip.py",
    "make sip": "softphone/tests/test_sip.py",
}
PLACEHOLDER = "…(from the action above)"  # a value the reader copies by hand


def covered_elsewhere(command):
    return command in COVERED_ELSEWHERE or command.startswith(tuple(SERVERS))


def commands(path):
    """The shell commands of a document's ```sh blocks, one per line, comments dropped."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.split(r"\s{2,}#", line)[0].strip()
            if line and not line.startswith("#"):
                found.append(re.sub(r"\s+", " ", line))
    return found


@pytest.fixture
def demo_store(tmp_path):
    """The demo accounts in a store of the test's own, seeded as the README says."""
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_"))},
        "DATABASE_URL": url,
        "IVR_PIN_HASH_COST": str(TEST_SCRYPT_N),
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
    }
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "accounts", "seed", "--if-empty"],
        cwd=ROOT, env=environment, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return environment


@pytest.fixture
def served(demo_store, clock, tmp_path):
    """The line on the demo store, with a GET survey beside it at /survey, on a free port."""
    settings = {"DATABASE_URL": demo_store["DATABASE_URL"], "IVR_AUDIO_CACHE": str(tmp_path)}
    line = create_app({"TESTING": True, **settings}, clock=clock)  # as `make run` serves it
    survey = survey_app.create_app("GET", TOKEN)

    def both(environ, start_response):
        chosen = survey if environ["PATH_INFO"].startswith("/survey") else line
        return chosen(environ, start_response)

    with serving_in_thread(both) as base:
        yield base


def run(command, cwd, environment):
    result = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=environment, input="q\n",
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    failed = "\n".join(re.findall(r"^(?:FAIL|ERROR) .*\n.*", result.stdout, re.M))
    assert result.returncode == 0, (
        f"{command}\n{failed or result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    )
    return result


def test_every_command_is_run_here_or_covered_elsewhere():
    shown = {command for path in DOCS for command in commands(path)}
    assert set(COVERED_ELSEWHERE) <= shown, "a command no doc shows any more"
    assert len(shown) > 20


@pytest.mark.xdist_group("docs")
def test_the_readmes_commands_work_from_the_clone(served, demo_store):
    address = served.removeprefix("http://")
    for command in commands(DOCS[0]):
        if covered_elsewhere(command) or PLACEHOLDER in command:
            continue
        command = command.replace("127.0.0.1:5000", address).replace("localhost:5000", address)
        printed = run(command, ROOT, demo_store)
        assert "Traceback" not in printed.stderr, command


@pytest.fixture
def project(tmp_path, demo_store):
    """A team's project: their scenario files, a TwiML file; their app is this line."""
    folder = tmp_path / "project"
    for name in ("app.py", "ivr", "prompts", "audio"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(ROOT / name)
    (folder / "calls").mkdir()
    (folder / "tests").mkdir()
    for source, target in (
        ("zh-balance-by-id.call.yaml", folder / "calls"),
        ("zh-balance-by-id.call.yaml", folder / "tests"),
        ("en-balance-by-card.call.yaml", folder / "tests"),
    ):
        text = (ROOT / "tests" / "calls" / source).read_text(encoding="utf-8")
        (target / source).write_text(text.replace("\nsteps:", "\ntags: [smoke]\nsteps:", 1))
    (folder / "survey-calls").mkdir()
    (folder / "survey-calls" / "rate.call.yaml").write_text(
        'dial: {url: "/survey"}\nsteps:\n  - expect: "how likely are you to recommend us"\n'
        '  - press: "5"\n  - expect: "You chose 5."\n'
    )
    (folder / "menu.xml").write_text(
        '<Response><Gather numDigits="1" action="/menu"><Say>For sales, press 1.</Say>'
        "</Gather><Say>Goodbye.</Say></Response>"
    )
    return folder


@pytest.mark.xdist_group("docs")
def test_the_guides_commands_work_in_a_project_of_ones_own(served, project, demo_store):
    # The line in-process stands for the team's app, with the settings a real one has.
    secret = "docs-secret-key-0123456789abcdef"
    environment = {**demo_store, "TWILIO_AUTH_TOKEN": TOKEN, "SECRET_KEY": secret, "PIN": "123456"}
    for command in commands(DOCS[1]):
        if covered_elsewhere(command):
            continue
        if command.startswith(".venv/bin/"):  # this repository's own, run from the clone
            run(command, ROOT, environment)
            continue
        for placeholder in ("https://your-host", "https://staging.example", "https://host"):
            command = command.replace(placeholder, served)
        command = command.replace("myapp:app", "app:app")
        run(command, project, environment)
    assert (project / "calls" / "scenario.schema.json").stat().st_size > 1000
    assert (project / "map.mmd").read_text().startswith("flowchart")
    assert "${PIN}" in (project / "call.yaml").read_text()
    shutil.rmtree(project / "calls")
