"""`softphone test` on apps nobody here wrote: GET webhooks, what failures say, JUnit, notes."""

import logging
import sys
import tempfile
from pathlib import Path

import pytest
import survey_app
import xmlschema
from local_server import serving_in_thread
from softphone.interpreter import Call
from softphone.interpreter import Keys

from softphone import runner
from softphone import save
from softphone import scenario as scenarios
from softphone import target as targets

JUNIT_SCHEMA = Path(__file__).parent / "junit-ant.xsd"
SURVEY = """\
name: {name}
dial: {{url: "/survey"{dial}}}
steps:
  - expect: "how likely are you to recommend us"
  - press: "4"
  - expect: "You chose 4."
  - wait: true
  - expect: "Thank you for your call."
  - expect_hangup: true
"""


def write(folder, name, text):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def survey(folder, name="survey", dial=""):
    return write(folder, f"{name}.call.yaml", SURVEY.format(name=name, dial=dial))


def in_process(app):
    return runner.Targets(app=app, token=survey_app.TOKEN)


@pytest.mark.parametrize(
    ("app", "dial"), ((survey_app.get_app, ", method: GET"), (survey_app.post_app, ""))
)
def test_a_scenario_rings_a_get_or_post_app_as_its_number_is_set(tmp_path, app, dial):
    (result,) = runner.run_all([survey(tmp_path, dial=dial)], in_process(app))
    assert result.passed, result.failure


def test_the_command_line_sets_the_method_for_scenarios_that_do_not(tmp_path, capsys):
    path = survey(tmp_path)
    with serving_in_thread(survey_app.get_app) as base:
        argv = [path, "--url", base, "--token", survey_app.TOKEN]
        assert runner.main([*argv, "--method", "GET"]) == 0
        assert "1 passed, 0 failed" in capsys.readouterr().out
        assert runner.main(argv) == 1
    printed = capsys.readouterr().out
    # A POST to a GET-only webhook: the reason is the HTTP status, not "application error".
    assert "HTTP error response code 405" in printed


def test_after_silence_the_failure_says_nothing_was_heard_since_the_step_and_the_call_ended(
    tmp_path,
):
    path = write(
        tmp_path,
        "hung.call.yaml",
        'dial: {url: "/survey/quiet", method: GET}\nsteps:\n  - expect: "Press a key."\n'
        '  - wait: true\n  - expect: "Thank you for your call."\n',
    )
    (result,) = runner.run_all([path], in_process(survey_app.get_app))
    assert result.failure == (
        "step 3: expected expect 'Thank you for your call.': not heard; "
        "nothing heard since step 2, and the call ended"
    )


def test_junit_passes_the_strict_ant_schema_and_a_broken_file_is_an_error(tmp_path, capsys):
    good = survey(tmp_path, "good", ", method: GET")
    bad = survey(tmp_path, "bad")  # POSTs to the GET-only survey: a failure
    broken = write(tmp_path, "broken.call.yaml", "steps: [")
    report = tmp_path / "junit.xml"
    with serving_in_thread(survey_app.get_app) as base:
        argv = [good, bad, broken, "--url", base, "--token", survey_app.TOKEN]
        assert runner.main([*argv, "--junit", str(report)]) == 1
    printed = capsys.readouterr().out
    assert "1 passed, 1 failed, 1 errors" in printed
    assert "ERROR     0.0s  broken.call.yaml" in printed
    xmlschema.XMLSchema(str(JUNIT_SCHEMA)).validate(str(report))
    suite = xmlschema.XMLSchema(str(JUNIT_SCHEMA)).to_dict(str(report))
    assert (suite["@tests"], suite["@failures"], suite["@errors"]) == (3, 1, 1)
    cases = {case["@name"]: case for case in suite["testcase"]}
    assert cases["bad"]["failure"]["@type"] == "NotHeard"
    assert "not valid YAML" in cases["broken.call.yaml"]["error"]["@message"]


def test_strict_fails_on_the_apps_twiml_not_on_the_softphones_own_notes(tmp_path, capsys):
    # The survey records with transcribe="true": the softphone says it does not transcribe.
    paths = [survey(tmp_path, name, ", method: GET") for name in ("one", "two")]
    app = survey_app.get_app
    with serving_in_thread(app) as base:
        argv = [*paths, "--url", base, "--token", survey_app.TOKEN, "--strict"]
        assert runner.main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 passed, 0 failed" in printed
    assert printed.count("transcription is not simulated") == 1  # once a run, not per scenario


def test_verbose_prints_each_events_details_as_the_terminal_does(tmp_path, capsys):
    path = write(
        tmp_path, "v.call.yaml", 'dial: {url: "/survey", method: GET}\nsteps:\n  - expect: "nope"\n'
    )
    with serving_in_thread(survey_app.get_app) as base:
        runner.main([path, "--url", base, "--token", survey_app.TOKEN, "-v"])
    printed = capsys.readouterr().out
    assert "/survey/rating" in printed.split("gather    → ")[1].splitlines()[0]
    assert "say       On a scale of 1 to 5" in printed


def test_a_saved_get_call_replays_with_its_settings_and_its_url_for_a_name(tmp_path, capsys):
    with serving_in_thread(survey_app.get_app) as base:
        target = targets.over_http(base + "/survey", survey_app.TOKEN)
        number = runner.settings.Number(method="GET", to="+15005550006")
        call = Call(target.url, target.fetch, **number.call_options()).start()
        answers = [Keys.parse("4"), Keys()]
        for keys in answers:
            call.send(keys)
        path = tmp_path / "saved.call.yaml"
        document = save.write_scenario(call.events, path, answers, number)
        assert document["name"] == f"a call to +15005550006 at {base}/survey"
        assert document["dial"] == {"url": f"{base}/survey", "method": "GET", "to": "+15005550006"}
        assert "set them to replay it" not in path.read_text()  # nothing secret was keyed
        assert runner.main([str(path), "--token", survey_app.TOKEN]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out


def test_temporary_recordings_are_removed_at_the_end_of_a_run(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (result,) = runner.run_all(
        [survey(tmp_path, dial=", method: GET")], in_process(survey_app.get_app)
    )
    assert result.passed, result.failure
    assert any(e.kind == "record" for e in result.events)
    assert not list(tmp_path.glob("softphone-recordings-*"))


def test_an_in_process_apps_start_up_log_is_quiet_unless_verbose(tmp_path, monkeypatch, caplog):
    (tmp_path / "loud.py").write_text(
        "import logging\nimport survey_app\n"
        "logging.getLogger('loud').warning('SECRET_KEY is the public default')\n"
        "app = survey_app.get_app\n"
    )
    monkeypatch.chdir(tmp_path)
    path = survey(tmp_path, dial=", method: GET")
    for verbose in (False, True):
        monkeypatch.delitem(sys.modules, "loud", raising=False)
        caplog.clear()
        argv = [path, "--app", "loud:app", "--token", survey_app.TOKEN]
        assert runner.main(argv + (["-v"] if verbose else [])) == 0
        said = any("SECRET_KEY is the public default" in r.getMessage() for r in caplog.records)
        assert said == verbose
    assert logging.root.manager.disable == logging.NOTSET  # logging is back as it was


def test_the_schema_is_shipped_and_editors_find_it_by_the_header(tmp_path):
    schema = scenarios.schema()
    assert scenarios.SCHEMA_PATH.is_file()
    assert set(schema["properties"]["dial"]["properties"]) >= {"method", "from", "answer"}
    header = f"# yaml-language-server: $schema={scenarios.SCHEMA_PATH}\n"
    path = write(tmp_path, "h.call.yaml", header + "steps:\n  - wait: true\n")
    assert scenarios.load(path).steps[0].kind == "wait"
    wrong = write(tmp_path, "m.call.yaml", "dial: {method: PUT}\nsteps:\n  - wait: true\n")
    with pytest.raises(scenarios.ScenarioError, match=r"m.call.yaml: dial: method: POST or GET"):
        scenarios.load(wrong)


def test_steps_are_reused_from_a_file_of_their_own_and_failures_say_where(tmp_path):
    write(
        tmp_path,
        "rate.steps.yaml",
        'steps:\n  - expect: "how likely are you to recommend us"\n  - press: "${SCORE}"\n',
    )
    good = write(
        tmp_path,
        "good.call.yaml",
        'dial: {url: "/survey", method: GET}\nenv: {SCORE: "4"}\nsteps:\n'
        '  - include: rate.steps.yaml\n  - expect: "You chose 4."\n',
    )
    bad = write(
        tmp_path,
        "bad.call.yaml",
        'dial: {url: "/survey/quiet", method: GET}\nenv: {SCORE: "4"}\nsteps:\n'
        "  - include: rate.steps.yaml\n",
    )
    assert scenarios.discover([tmp_path]) == [bad, good]  # a steps file is no scenario
    passed, failed = runner.run_all([good, bad], in_process(survey_app.get_app))
    assert passed.passed, passed.failure
    assert [s.kind for s in passed.scenario.steps] == ["expect", "press", "expect"]
    assert failed.failure.startswith(
        "step 1 > rate.steps.yaml step 1: expected expect 'how likely are you to recommend us'"
    )


def test_an_include_that_comes_back_to_itself_is_refused(tmp_path):
    write(tmp_path, "a.steps.yaml", "steps:\n  - include: b.steps.yaml\n")
    write(tmp_path, "b.steps.yaml", "steps:\n  - include: a.steps.yaml\n")
    loop = write(tmp_path, "loop.call.yaml", "steps:\n  - include: a.steps.yaml\n")
    with pytest.raises(scenarios.ScenarioError, match=r"include: .*includes itself"):
        scenarios.load(loop)
    missing = write(tmp_path, "missing.call.yaml", "steps:\n  - include: nowhere.yaml\n")
    with pytest.raises(scenarios.ScenarioError, match=r"step 1: include: cannot be read"):
        scenarios.load(missing)
