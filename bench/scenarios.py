"""Scenarios a second through the softphone, beside the engine alone making the same calls.

Cases, each timed on this machine in one run:
- a generated suite: 500 calls with random menu keys against the line in-process, first made
  with the engine alone (Call.send, no files), then saved as scenario files and run by the
  runner (YAML, schema, lint of every document, the checks); the ratio is runner / engine;
- the line's own scenarios (tests/calls) in-process, in one process;
- the same files collected by pytest through the plugin, `-n auto`, start-up included;
- the same files over HTTP against `make serve`'s gunicorn (and its workers), 8 at once.

Run: .venv/bin/python bench/scenarios.py [--count 500]. Prints figures; asserts nothing.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "softphone" / "tests"))

from softphone.interpreter import Call  # noqa: E402
from softphone.interpreter import Keys  # noqa: E402

from ivr import create_app  # noqa: E402
from ivr.accounts import demo_document  # noqa: E402
from ivr.accounts import import_accounts  # noqa: E402
from softphone import runner  # noqa: E402
from softphone import save  # noqa: E402
from softphone import scenario as scenarios  # noqa: E402
from softphone import target as targets  # noqa: E402
from tests.served import served_app  # noqa: E402

TOKEN = "bench-token"
SECRET = "bench-secret-key-not-the-public-one-0123456789"
MENU_KEYS = "12345690*#"  # keys a caller might press at any menu; no PIN is ever keyed
CALLS = ROOT / "tests" / "calls"


def make_app(folder):
    """The line in-process on its own SQLite, with the demo accounts."""
    app = create_app(
        {
            "TESTING": True,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "SECRET_KEY": SECRET,
            "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
            "IVR_AUDIO_CACHE": f"{folder}/phrases",
            "IVR_PUBLIC_URL": "http://localhost",  # the softphone's in-process address
        }
    )
    hotline = app.extensions["ivr"]
    import_accounts(
        demo_document(hotline.regions, hotline.clock().date()), hotline.regions, hotline.store
    )
    return app


def generated(app, folder, count, seed=12333):
    """Make `count` calls with the engine alone; save each as a scenario; return (files, s)."""
    chooser = random.Random(seed)
    target = targets.in_process(app, TOKEN)
    plans = [
        [Keys(keys=chooser.choice(MENU_KEYS)) for _ in range(chooser.randint(1, 5))]
        for _ in range(count)
    ]
    started = time.perf_counter()
    calls = []
    for plan in plans:
        call = Call(target.url, target.fetch, to="010-12333", measure=target.measure).start()
        sent = []
        for keys in plan:
            if call.ended:
                break
            call.send(keys)
            sent.append(keys)
        calls.append((call, sent))
    engine = time.perf_counter() - started
    files = []
    for number, (call, sent) in enumerate(calls):
        path = folder / f"generated-{number:03}.call.yaml"
        save.write_scenario(call.events, path, sent)
        files.append(str(path))
    return files, engine


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def row(case, count, seconds, baseline=None):
    ratio = f"{(count / seconds) / baseline:5.2f}" if baseline else "     "
    print(f"{case:<58} {count:5d} {seconds:7.2f} s {count / seconds:8.1f}/s  {ratio}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="generated scenarios (500)")
    args = parser.parse_args()
    print(f"{'case':<58} {'calls':>5} {'time':>9} {'rate':>10}  ratio")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        app = make_app(folder)
        pick = runner.Targets(app=app, token=TOKEN)
        files, engine = generated(app, folder, args.count)
        row("generated: the engine alone (Call.send)", len(files), engine)
        results, seconds = timed(lambda: runner.run_all(files, pick))
        passed = sum(r.passed for r in results)
        row(f"generated: scenario files through the runner ({passed} passed)", len(files), seconds,
            len(files) / engine)  # fmt: skip

        own = scenarios.discover([CALLS])
        (folder / "own").mkdir()
        fresh = runner.Targets(app=make_app(folder / "own"), token=TOKEN)
        results, seconds = timed(lambda: runner.run_all(own, fresh))
        row(f"the line's scenarios, in-process, one process ({sum(r.passed for r in results)} passed)", len(own), seconds)  # fmt: skip

        command = [
            sys.executable,
            "-m",
            "pytest",
            str(CALLS),
            "-n",
            "auto",
            "-q",
            "-p",
            "no:cacheprovider",
        ]
        done, seconds = timed(
            lambda: subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        )
        row("the line's scenarios, pytest -n auto (start-up included)", len(own), seconds)
        if done.returncode:
            print("  (pytest reported failures: " + done.stdout.strip().splitlines()[-1] + ")")

        database = f"sqlite:///{folder}/served.sqlite3"
        environment = {**os.environ, "DATABASE_URL": database, "SECRET_KEY": SECRET}
        subprocess.run([sys.executable, "-m", "flask", "--app", "app", "accounts", "seed"],
                       cwd=ROOT, env=environment, check=True, capture_output=True)  # fmt: skip
        settings = {"DATABASE_URL": database, "SECRET_KEY": SECRET, "TWILIO_AUTH_TOKEN": TOKEN}
        with served_app(settings, workers=2, threads=8) as base:
            remote = runner.Targets(base_url=base + "/voice", token=TOKEN)
            results, seconds = timed(lambda: runner.run_all(own, remote, jobs=8))
        row(f"the line's scenarios over HTTP, gunicorn 2 workers ({sum(r.passed for r in results)} passed)", len(own), seconds)  # fmt: skip


if __name__ == "__main__":
    main()
