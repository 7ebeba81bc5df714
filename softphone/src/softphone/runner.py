"""`softphone test PATH...`: run scenario files as calls and say pass or fail.

A scenario with no `dial.url` (or a relative one) runs in-process against the app
`--app` names (default `app:app`, as `flask --app`); one with an http(s) URL runs over HTTP,
in parallel with the others. `--url` sends every scenario to one URL instead. The number's
settings (`--method GET`, `--from`, …) apply to every scenario whose `dial:` does not name them.
"""

import argparse
import datetime as dt
import os
import re
import socket
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import urljoin

from softphone import dialer
from softphone import lint
from softphone import scenario as scenarios
from softphone import settings
from softphone import target as targets
from softphone import transcript as transcripts
from softphone.coverage import Coverage
from softphone.coverage import asked
from softphone.coverage import trace_of
from softphone.interpreter import Call
from softphone.interpreter import Keys

HEARD_CHARS = 240  # of the last thing heard, in a failure message
CALL_ERRORS = (12100, 12102, 12300)  # the call reports these itself, as errors


@dataclass
class Result:
    """How one scenario went."""

    scenario: object
    passed: bool
    seconds: float = 0.0  # simulated call time
    failure: str = ""
    error: bool = False  # the scenario could not run at all (unreadable, no target)
    step: int | None = None
    events: list = field(default_factory=list)
    trace: list = field(default_factory=list)
    gathers: list = field(default_factory=list)  # coverage.Asked: each Gather and Record
    documents: list = field(default_factory=list)  # the TwiML documents fetched, for coverage
    wall: float = 0.0

    @property
    def findings(self):
        """Lint findings in the app's TwiML: what --strict fails on."""
        return [e for e in self.events if e.kind == "warning" and e.data.get("source") == "lint"]

    @property
    def notes(self):
        """What the softphone says of itself or the call (not simulated, a Twilio warning)."""
        return [e for e in self.events if e.kind in ("warning", "note") and e not in self.findings]


class Observer:
    """Wrap a target's fetch: lint every TwiML document and keep the app's trace.

    A document fetched while the call holds (a queue's or a conference's waitUrl, or where
    it redirects) is linted as a waitUrl of that kind, as the engine plays it.
    """

    def __init__(self, fetch):
        self.fetch = fetch
        self.call = None
        self.trace = []
        self.documents = []

    def __call__(self, method, url, params):
        reply = self.fetch(method, url, params)
        self.trace += trace_of(reply.headers)
        kind = reply.content_type.split(";")[0].strip().lower()
        if kind in lint.XML_TYPES and 200 <= reply.status < 300:
            self.documents.append(reply.url or url)
        if self.call is not None and kind in lint.XML_TYPES and 200 <= reply.status < 300:
            hold = getattr(self.call, "hold", None)
            wait = hold.kind if hold is not None else None
            for finding in lint.check(reply.body, reply.url or url, reply.content_type, wait=wait):
                if finding.code not in CALL_ERRORS:
                    self.call.event(
                        "warning",
                        code=finding.code or "lint",
                        message=f"{finding.where}: {finding.message}",
                        source="lint",
                    )
        return reply


def heard(events, words=None):
    """The texts said (and, where the app tells their words, played) in these events."""
    texts = []
    for event in events:
        if event.kind == "say":
            texts.append(event.data["text"])
        elif event.kind == "play" and words and event.data.get("url"):
            said = words(event.data["url"])
            if said:
                texts.append(said)
    return "\n".join(texts)


def run(scenario, target, strict=False, number=None):
    """Run one scenario against a target and return its Result.

    `number`: the settings of the command line, for what the scenario's `dial:` leaves out.
    """
    started = time.monotonic()
    observer = Observer(target.fetch)
    given = settings.from_dial(scenario.dial, number)
    call = Call(target.url, observer, measure=target.measure, **given.call_options())
    observer.call = call
    result = Result(scenario, passed=True)
    words = target.hooks.words
    expected_errors = {step.value for step in scenario.steps if step.kind == "expect_error"}
    call.start()
    mark, after = 0, None  # the events since the last action, and that action's step
    for step in scenario.steps:
        if step.kind in scenarios.ACTIONS:
            if call.ended:
                problem = "the call had already ended"
            else:
                problem = None
                note_gather(call, step, result)
                mark, after = call.mark(), step
                act(call, step)
        else:
            problem = check(step, call, call.since(mark), words)
        if problem:
            fail(result, step, problem, call, mark, words, after)
            break
    if not call.ended:
        call.hangup()
    call.discard_recordings()
    if result.passed:
        unexpected = [
            e
            for e in call.events
            if e.kind == "error" and str(e.data.get("code")) not in expected_errors
        ]
        if unexpected:
            data = unexpected[0].data
            fail(result, None, f"error {data['code']}: {data['message']}", call, 0, words)
    result.seconds = call.t
    result.events = call.events
    result.trace = observer.trace
    result.documents = observer.documents
    result.wall = time.monotonic() - started
    if result.passed and strict and result.findings:
        data = result.findings[0].data
        fail(result, None, f"--strict: lint {data['code']}: {data['message']}", call, 0)
    return result


def act(call, step):
    """Give the call what an action step does: keys, silence, words or a hang-up (at a moment)."""
    if step.kind == "press":
        call.send(Keys.parse(step.value))
    elif step.kind == "wait":
        call.send(Keys())
    elif step.kind == "speak":
        call.send(Keys(speech=step.value, at=step.at))
    else:
        call.send(Keys(hangup=True, at=step.at))


def note_gather(call, step, result):
    """Remember, for coverage of an app without a flow, each Gather and Record and its answer."""
    noted = asked(call, step.kind, step.value)
    if noted is not None:
        result.gathers.append(noted)


def check(step, call, events, words):
    """Return what is wrong with the call at an expect step, or None."""
    kind, value = step.kind, step.value
    if kind in ("expect", "expect_not"):
        text = heard(events, words)
        found = bool(value.search(text)) if isinstance(value, re.Pattern) else value in text
        if found != (kind == "expect"):
            return "not heard" if kind == "expect" else "heard it"
    elif kind == "expect_hangup":
        if not call.ended:
            return "the call is still waiting for the caller"
    elif kind == "expect_transfer":
        transfers = [e for e in events if e.kind == "transfer"]
        if value is not True:
            transfers = [
                e
                for e in transfers
                if value.get("queue") in (None, e.data.get("queue"))
                and value.get("to", "") in e.data.get("to", "")
            ]
        if not transfers:
            return "no such transfer"
    elif kind == "expect_error":
        codes = [str(e.data.get("code")) for e in events if e.kind in ("error", "warning")]
        if value not in codes:
            return f"errors and warnings were {', '.join(codes) or 'none'}"
    elif kind == "expect_play":
        urls = [e.data.get("url") or "" for e in events if e.kind == "play"]
        if not any(value in url for url in urls):
            return f"played {', '.join(u for u in urls if u) or 'nothing'}"
    return None


def fail(result, step, problem, call, mark, words=None, after=None):
    """Say what failed, what was heard since the last action (or that nothing was), and why."""
    result.passed = False
    result.step = step.number if step else None
    where = f"{step.label}: expected {scenarios.describe(step)}: " if step else ""
    since = call.since(mark) if step else call.events
    last = heard(since, words).replace("\n", " ")
    if len(last) > HEARD_CHARS:
        last = "…" + last[-HEARD_CHARS:]
    if last:
        told = f"last heard: {last}"
    else:
        told = f"nothing heard since {after.label}" if after else "nothing heard"
        told += ", and the call ended" if call.ended and step else ""
    errors = [e.data for e in since if e.kind == "error"]
    if errors and step:
        told += f" (the app failed: error {errors[0]['code']}: {errors[0]['message']})"
    result.failure = f"{where}{problem}; {told}"


class Targets:
    """Pick each scenario's target: its URL over HTTP, or the app in-process (loaded once)."""

    def __init__(self, base_url=None, app_spec=None, token=None, app=None, quiet=True):
        self.base_url, self.app_spec, self.token = base_url, app_spec, token
        self.app, self.quiet = app, quiet

    def is_http(self, scenario):
        url = scenario.dial.get("url", "")
        return bool(self.base_url) or url.startswith(("http://", "https://"))

    def __call__(self, scenario):
        url = scenario.dial.get("url", "")
        token = scenario.token or self.token or dialer.default_token()
        if self.base_url:
            absolute = url.startswith(("http://", "https://"))
            return targets.over_http(
                self.base_url if absolute else urljoin(self.base_url, url), token
            )
        if url.startswith(("http://", "https://")):
            return targets.over_http(url, token)
        if self.app is None:
            self.app = targets.load_app(self.app_spec, quiet=self.quiet)
        return targets.in_process(
            self.app, scenario.token or self.token, urljoin(targets.LOCAL_URL, url)
        )

    def words(self):
        """The in-process app's words hook (what a played file says), if it hands one over."""
        hooks = getattr(self.app, "softphone_hooks", None)
        return hooks.words if hooks else None

    def model(self):
        """The flow of the in-process app, if it hands one over."""
        if self.app is None:
            return None
        hooks = getattr(self.app, "softphone_hooks", None)
        return hooks.flow() if hooks and hooks.flow else None


def run_all(files, pick, strict=False, jobs=8, environ=None, number=None):
    """Load and run scenario files; return results in the files' order.

    A file that cannot be read or checked, or a target that cannot be reached, is an error
    (the scenario never ran), not a failure.
    """
    loaded = []
    for path in files:
        try:
            loaded.append(scenarios.load(path, environ))
        except scenarios.ScenarioError as error:
            loaded.append(error)
    results = [None] * len(loaded)

    def one(index):
        item = loaded[index]
        if isinstance(item, scenarios.ScenarioError):
            stub = scenarios.Scenario(files[index], os.path.basename(files[index]), [])
            results[index] = Result(stub, passed=False, failure=str(item), error=True)
        else:
            try:
                target = pick(item)
            except Exception as error:  # noqa: BLE001 - e.g. an app that cannot be imported
                message = f"cannot reach the target: {type(error).__name__}: {error}"
                results[index] = Result(item, passed=False, failure=message, error=True)
                return
            results[index] = run(item, target, strict, number)

    remote = [
        i for i, item in enumerate(loaded) if not isinstance(item, Exception) and pick.is_http(item)
    ]
    local = [i for i in range(len(loaded)) if i not in remote]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, i) for i in remote]
        for index in local:  # one app, one store: in-process calls run one at a time
            one(index)
        for future in futures:
            future.result()
    return results


def junit(results, path, words=None):
    """Write JUnit XML, one testcase per scenario, valid against the strict Ant JUnit schema."""
    failures = sum(not r.passed and not r.error for r in results)
    suite = ET.Element(
        "testsuite",
        name="softphone",
        timestamp=dt.datetime.now().replace(microsecond=0).isoformat(),
        hostname=socket.gethostname(),
        tests=str(len(results)),
        failures=str(failures),
        errors=str(sum(r.error for r in results)),
        time=f"{sum(r.wall for r in results):.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    for result in results:
        ET.SubElement(
            properties,
            "property",
            name=f"{result.scenario.name}: simulated seconds",
            value=f"{result.seconds:.1f}",
        )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=os.path.splitext(result.scenario.path)[0].replace(os.sep, "."),
            name=result.scenario.name,
            time=f"{result.wall:.3f}",
        )
        if result.error:
            kind = "ScenarioError"
            ET.SubElement(case, "error", message=result.failure, type=kind).text = result.failure
        elif not result.passed:
            kind = "NotHeard" if result.step else "CallFailed"
            ET.SubElement(case, "failure", message=result.failure, type=kind).text = result.failure
    ET.SubElement(suite, "system-out").text = "\n\n".join(
        f"{r.scenario.name} ({r.scenario.path})\n{transcripts.lines(r.events, words)}"
        for r in results
    )
    ET.SubElement(suite, "system-err").text = ""
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="softphone test", description="Run scenario files as calls."
    )
    parser.add_argument("paths", nargs="+", help="scenario files, or folders of *.yaml")
    parser.add_argument(
        "--url", help="dial this URL for every scenario (relative dial URLs join it)"
    )
    parser.add_argument("--app", help="the app to run in-process (default app:app, as flask --app)")
    parser.add_argument("--token", help="auth token to sign with (default: $TWILIO_AUTH_TOKEN)")
    settings.add_arguments(parser)
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    parser.add_argument("--coverage", action="store_true", help="print path coverage")
    parser.add_argument("--min-coverage", type=float, metavar="N", help="fail below N percent")
    parser.add_argument("--strict", action="store_true", help="lint findings fail a scenario")
    parser.add_argument("--jobs", type=int, default=8, help="HTTP scenarios run at once (8)")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print failing calls' transcripts, and the in-process app's start-up log",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        files = scenarios.discover(args.paths)
    except scenarios.ScenarioError as error:
        print(error, file=sys.stderr)
        return 2
    if not files:
        print("no scenario files (*.yaml) found", file=sys.stderr)
        return 2
    pick = Targets(args.url, args.app, args.token, quiet=not args.verbose)
    number = settings.from_args(args)
    results = run_all(files, pick, args.strict, args.jobs, number=number)
    words = pick.words()
    said = set()  # each note once per run, however many scenarios meet it
    for result in results:
        mark = "PASS" if result.passed else "ERROR" if result.error else "FAIL"
        print(f"{mark}  {result.seconds:6.1f}s  {result.scenario.name}  ({result.scenario.path})")
        if not result.passed:
            print(f"      {result.failure}")
            if args.verbose and result.events:
                print(transcripts.lines(result.events, words))
        for event in result.notes + (result.findings if not args.strict else []):
            line = f"{event.data.get('code', event.kind)}: {event.data.get('message', '')}"
            if line not in said:
                said.add(line)
                print(f"      {'note' if event.kind == 'note' else 'warning'} {line}")
    failed = sum(not r.passed and not r.error for r in results)
    errors = sum(r.error for r in results)
    summary = f"{len(results) - failed - errors} passed, {failed} failed"
    print(summary + (f", {errors} errors" if errors else ""))
    if args.junit:
        junit(results, args.junit, words)
    status = 1 if failed or errors else 0
    if args.coverage or args.min_coverage is not None:
        coverage = Coverage(pick.model())
        for result in results:
            coverage.add(result)
        print(coverage.report())
        if args.min_coverage is not None and coverage.percent() < args.min_coverage:
            print(
                f"coverage {coverage.percent():.1f} % is below --min-coverage {args.min_coverage:g}"
            )
            status = 1
    return status
