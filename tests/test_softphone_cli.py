"""The terminal face: `softphone`, scripted and at a real terminal (pexpect)."""

import ast
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pexpect
import pytest
from softphone.interpreter import Keys

from softphone import cli
from softphone import settings
from tests.conftest import TEST_SCRYPT_N

ROOT = pathlib.Path(__file__).resolve().parent.parent
WELCOME = "欢迎致电乌鲁木齐市幺二三三三。"
MENU = "查询医保个人账户余额请按1"
# A small TwiML app that is not the hotline, loaded with --app: a secret Gather with a short
# timeout, a played file, and a status callback that writes what it got to $STATUS_FILE.
TINY_APP = """
import os
from flask import Flask, request

app = Flask(__name__)
XML = {"Content-Type": "text/xml"}


@app.post("/voice")
def voice():
    return ('<Response><Gather timeout="2" action="/pin?secret=1"><Say>PIN.</Say></Gather>'
            '<Play>/hello.wav</Play><Say>Nothing.</Say></Response>', 200, XML)


@app.post("/pin")
def pin():
    return "<Response><Say>Thanks.</Say></Response>", 200, XML


@app.post("/status")
def status():
    with open(os.environ["STATUS_FILE"], "a") as out:
        out.write(request.form["CallStatus"] + "\\n")
    return "", 204
"""


@pytest.fixture
def env(tmp_path):
    """The environment of a fresh shell in the repo: no Twilio or IVR settings, own database."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_", "DATABASE_"))
    }
    clean["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    clean["PYTHONPATH"] = str(ROOT)
    clean["STATUS_FILE"] = str(tmp_path / "status.txt")
    (tmp_path / "tiny.py").write_text(TINY_APP)
    return clean


def cheap_pins(env):
    """The environment for `flask accounts seed` with the demo PINs hashed at the test cost.

    At the production cost a PIN check takes ~40 ms of CPU: on a busy machine it can take
    a tenth of a second, which the softphone's clock counts, and a printed time would move.
    """
    return {**env, "IVR_PIN_HASH_COST": str(TEST_SCRYPT_N)}


def softphone(env, *args, cwd=ROOT, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "softphone", *args],
        env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def transcript_kinds(stdout):
    """The event kinds of a text transcript, line by line."""
    return [m.group(1) for m in re.finditer(r"^\[\s*[\d.]+s\] (\S+)", stdout, re.MULTILINE)]


# The softphone stands alone


def test_no_softphone_module_imports_the_hotline():
    offenders = []
    for path in (ROOT / "ivr" / "softphone").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module == "ivr":
                names = [f"ivr.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                names = []
            offenders += [
                f"{path.name}: {name}"
                for name in names
                if name.startswith("ivr.") and not name.startswith("softphone")
            ]
    assert offenders == []


def test_the_app_hands_its_hooks_over(make_app):
    app = make_app(IVR_VOICE_MODE="play")
    from softphone.target import in_process

    phone_target = in_process(app)
    words = phone_target.hooks.words
    assert words("http://localhost/audio/zh/welcome.wav") is not None
    assert "欢迎致电" in words("http://localhost/audio/zh/welcome.wav")
    assert words("http://elsewhere.example/music.mp3") is None


# The text transcript


def test_a_key_that_cuts_a_prompt_is_printed_once_after_the_cut_prompt(env):
    text = softphone(env, "--keys", "2@3")
    events = json.loads(softphone(env, "--keys", "2@3", "--json").stdout)
    assert text.returncode == 0, text.stderr
    assert transcript_kinds(text.stdout) == [e["kind"] for e in events]
    lines = text.stdout.splitlines()
    assert lines[2] == f"[    0.0s] say       {WELCOME}   [cut after 3.0s]"
    assert lines[3] == "[    3.0s] keys      2"
    assert text.stdout.count(WELCOME) == 1
    assert MENU not in text.stdout  # the key came before the menu began


def test_play_mode_shows_the_words_and_a_foreign_apps_audio_its_url(env, tmp_path):
    played = softphone({**env, "IVR_VOICE_MODE": "play"}, "--keys", "hangup")
    assert f"play      {WELCOME}" in played.stdout
    foreign = softphone(env, "--app", "tiny:app", "--keys", ".", cwd=tmp_path)
    assert "play      http://localhost/hello.wav" in foreign.stdout


# --keys and --help


@pytest.mark.parametrize(
    ("keys", "group", "why"),
    (
        ("1 1@x", "group 2, 1@x,", "'@' needs keys before it and seconds after it"),
        ("hangupp", "group 1, hangupp,", "keys are 0-9, * and #"),
        ("1 2 abc", "group 3, abc,", "keys are 0-9, * and #"),
        ('1 "yes', "", "No closing quotation"),
    ),
)
def test_bad_keys_are_refused_with_the_grammar(env, keys, group, why):
    result = softphone(env, "--keys", keys)
    assert result.returncode == 2
    assert result.stdout == ""  # nothing was dialled
    assert group in result.stderr
    assert why in result.stderr
    assert "1@2.5" in result.stderr
    assert '"spoken words"' in result.stderr
    assert "Traceback" not in result.stderr


def test_help_documents_every_form_and_option(env):
    text = softphone(env, "--help").stdout
    for form in ("110105194912310021#", " . ", "12w34#", "1@2.5", "hangup", '"spoken words"'):
        assert form in text
    for option in ("--agent-after SECONDS", "--answer", "completed,busy,no-answer,failed"):
        assert option in text
    assert "--app MODULE:NAME" in text


def test_quoted_groups_survive_and_hash_is_a_key():
    assert [k.keys for k in cli.script("1 12# 1@2.5 .")] == ["1", "12#", "1", ""]
    if "speech" not in Keys.__dataclass_fields__:
        pytest.skip("the engine takes no speech input yet (Keys(speech=...))")
    keys = cli.script('1 "yes please" #')
    assert [k.speech for k in keys] == [None, "yes please", None]


def test_call_options_are_passed_only_when_given_and_each_call_has_its_own_caller():
    plain = settings.from_args(cli.parse_args(["--keys", "1"])).call_options()
    assert "agent_after" not in plain
    assert "answer" not in plain
    assert plain["method"] == "POST"
    assert re.fullmatch(r"\+861380013\d{4}", plain["caller"])
    callers = {settings.from_args(cli.parse_args([])).call_options()["caller"] for _ in range(20)}
    assert len(callers) > 1  # one visitor's wrong PINs are not the next caller's
    given = settings.from_args(
        cli.parse_args(["--agent-after", "30", "--answer", "busy", "--from", "+8613912345678"])
    ).call_options()
    assert (given["agent_after"], given["answer"], given["caller"]) == (
        30.0,
        "busy",
        "+8613912345678",
    )


# Errors say what to do


def one_clear_line(result):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("softphone: ")]
    assert len(said) == 1, result.stderr
    return said[0]


def test_an_unreachable_url(env):
    line = one_clear_line(softphone(env, "http://127.0.0.1:9/voice", "--keys", "1"))
    assert "could not reach http://127.0.0.1:9/voice (Connection refused)" in line
    assert "is the app running" in line


def test_a_403_hints_at_the_token(env):
    line_settings = {"TWILIO_AUTH_TOKEN": "right", "SECRET_KEY": "a-secret-of-this-line"}
    result = softphone({**env, **line_settings}, "--token", "wrong", "--keys", ".")
    line = one_clear_line(result)
    assert "403" in line
    assert "--token" in line
    assert "TWILIO_AUTH_TOKEN" in line


@pytest.mark.parametrize(
    "url", ("not-a-database-url", "postgresql+psycopg://nobody@127.0.0.1:9/nowhere")
)
def test_a_bad_database_url(env, url):
    # The menus need no store: the first request that does is the ID number's.
    keys = "1 1 11010519491231002*#"
    line = one_clear_line(softphone({**env, "DATABASE_URL": url}, "--keys", keys))
    assert "DATABASE_URL" in line


def test_a_broken_flow_file(env, tmp_path):
    broken = tmp_path / "flow.toml"
    broken.write_text("[nodes.main\n")
    line = one_clear_line(softphone({**env, "IVR_FLOW_FILE": str(broken)}, "--keys", "."))
    assert "did not start: FlowError: flow is not valid TOML" in line


def test_no_app_here(env, tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "ivr").symlink_to(ROOT / "ivr")  # the softphone, and no app.py beside
    env = {**env, "PYTHONPATH": str(tmp_path / "lib")}
    line = one_clear_line(softphone(env, "--keys", ".", cwd=tmp_path / "lib"))
    assert "no app to dial in-process" in line
    assert "--app MODULE:NAME" in line


# At a terminal


def spawn(env, *args, cwd):
    child = pexpect.spawn(
        sys.executable,
        ["-m", "softphone", "--audio", "off", *args],
        env={**env, "TERM": "xterm"},
        cwd=str(cwd),
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 200),
    )
    child.logfile_read = log = _Log()
    return child, log


class _Log:
    """Everything the terminal showed."""

    def __init__(self):
        self.text = ""

    def write(self, data):
        self.text += data

    def flush(self):
        pass


def test_key_help_comes_before_the_first_prompt(env, tmp_path):
    child, log = spawn(env, "--app", "tiny:app", cwd=tmp_path)
    child.expect("PIN \\(hidden\\)> ")
    child.sendline("q")
    child.expect(pexpect.EOF)
    assert log.text.index("Type keys") < log.text.index("say       PIN.")


def test_a_secret_pin_is_never_echoed(env, tmp_path):
    child, log = spawn(env, "--app", "tiny:app", cwd=tmp_path)
    child.expect("PIN \\(hidden\\)> ")
    child.send("4")
    child.expect("•")
    child.send("71")
    child.expect("•••")
    child.send("9#\r")
    child.expect("Thanks.")
    child.expect(pexpect.EOF)
    assert "keys      ••••#   (masked)" in log.text
    assert "4719" not in log.text
    assert not re.search(r"> [0-9]", log.text)  # not even the first key


def test_a_countdown_runs_the_gather_timeout_out(env, tmp_path):
    child, log = spawn(env, "--app", "tiny:app", cwd=tmp_path)
    child.expect(r"\[\s+2 s\]")  # the prompt's 0.6 s, then the Gather's 2 s
    child.expect(r"\[\s+1 s\]")
    child.expect("silence   2s")
    child.expect("Nothing.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_no_countdown_off_a_terminal(env, tmp_path):
    result = softphone(env, "--app", "tiny:app", cwd=tmp_path, stdin="\n")
    assert result.returncode == 0
    assert "silence   2s" in result.stdout
    assert "PIN (hidden)> " in result.stderr  # the prompt, on stderr beside the help
    assert " s]" not in result.stderr
    assert "\r" not in result.stderr


def test_interactive_json_keeps_stdout_for_the_json(env, tmp_path):
    result = softphone(env, "--app", "tiny:app", "--json", cwd=tmp_path, stdin="4719#\n")
    events = json.loads(result.stdout)
    assert [e["keys"] for e in events if e["kind"] == "keys"] == ["••••#"]
    assert "say       Thanks." in result.stderr  # the person at the keys still reads the call


def test_ctrl_c_hangs_up_cleanly(env, tmp_path):
    child, log = spawn(
        env, "--app", "tiny:app", "--status-callback", "http://localhost/status", cwd=tmp_path
    )
    child.expect("PIN \\(hidden\\)> ")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert "hangup    by caller" in log.text
    assert "Traceback" not in log.text
    assert (tmp_path / "status.txt").read_text() == "completed\n"


def test_record_asks_the_apps_voice_first(env, tmp_path):
    path = tmp_path / "call.wav"
    hotline = softphone({**env, "PATH": "/nonexistent"}, "--keys", "hangup", "--record", str(path))
    assert f"to {path}" in hotline.stderr
    assert "note: the app's speech failed (espeak-ng is not installed" in hotline.stderr
    foreign = softphone(
        {**env, "PATH": "/nonexistent"}, "--app", "tiny:app", "--keys", ".", "--record",
        str(path), cwd=tmp_path,
    )  # fmt: skip
    assert "note: espeak-ng is not installed" in foreign.stderr  # no hooks: plain espeak-ng
    assert "app's speech" not in foreign.stderr


def test_the_readmes_sample_transcript_is_what_it_prints(env):
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"`\.venv/bin/softphone ([^`]+)` prints:\n\n```\n(.*?)```", readme, re.S)
    arguments, sample = shlex.split(found.group(1)), found.group(2)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "accounts", "seed"],
        env=cheap_pins(env), cwd=ROOT, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    printed = softphone(env, *arguments)
    assert printed.stdout == sample


def test_an_interactive_call_saved_replays_with_the_pin_from_the_environment(env, tmp_path):
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "accounts", "seed"],
        env=cheap_pins(env), cwd=ROOT, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    saved = tmp_path / "by-hand.yaml"
    typed = "1\n1\n11010519491231002*#\n123456#\nq\n"
    result = softphone(env, "--save", str(saved), stdin=typed)
    assert f"steps to {saved}" in result.stderr
    text = saved.read_text(encoding="utf-8")
    assert "${PIN}" in text
    assert "123456" not in text
    assert "11010519491231002" not in text
    secrets = {"PIN": "123456", "NUMBER": "11010519491231002*"}
    replay = softphone({**env, **secrets}, "test", str(saved))
    assert "1 passed, 0 failed" in replay.stdout, replay.stdout + replay.stderr
    wrong = softphone({**env, **secrets, "PIN": "654321"}, "test", str(saved))
    assert wrong.returncode == 1
