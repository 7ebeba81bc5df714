"""What `make serve` runs: gunicorn with gunicorn.conf.py, a health check, a masked access log."""

import os
import subprocess
import sys
import time

import requests

from ivr import create_app
from tests.served import ROOT
from tests.served import free_port


def test_healthz_says_whether_the_store_answers(make_app, tmp_path):
    assert make_app().test_client().get("/healthz").status_code == 200
    dead = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/no/dir/x.sqlite3"})
    response = dead.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"store": "unreachable"}


def test_served_as_make_serve_does_with_numbers_masked_in_the_access_log(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_"))}
    env |= {"DATABASE_URL": f"sqlite:///{tmp_path}/serve.sqlite3", "SECRET_KEY": "serve-test"}
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    command += ["--no-control-socket"]  # other tests serve at the same time
    server = subprocess.Popen(
        [*command, "app:app"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                health = requests.get(base + "/healthz", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.1)
        assert health.status_code == 200
        answer = requests.post(base + "/voice?ref=11010519491231002X", data={"CallSid": "CA1"})
        assert answer.status_code == 200
        assert "<Response>" in answer.text
    finally:
        server.terminate()
        log = server.communicate(timeout=20)[0].decode()
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert "/voice?ref=**************002X" in log
    assert "11010519491231002X" not in log
    assert "gthread" in log  # the config's worker class: threads beside the slow PIN checks
