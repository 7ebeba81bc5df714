"""`softphone test PATH...`: run scenario files as calls and say pass or fail.

A scenario with no `dial.url` (or a relative one) runs in-process against the app
`--app` names (default `app:app`, as `flask --app`); one with an http(s) URL runs over HTTP,
in parallel with the others. `--url` sends every scenario to one URL instead.
"""

import argparse
import os
import re
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
from softphone import target as targets
from softphone.coverage import Coverage
from softphone.coverage import advertised_keys
from softphone.coverage import gather_id
from softphone.coverage import trace_of
from softphone.interpreter import Call
from softphone.interpreter import Keys

DEFAULT_CALLER = "+8613800138000"
HEARD_CHARS = 240  # of the last thing heard, in a failure message
CALL_ERRORS = (12100, 12102, 12300)  # the call reports these itself, as errors


@dataclass
class Result:
    """How one scenario went."""

    scenario: object
    passed: bool
    seconds: float = 0.0  # simulated call time
    failure: str = ""
    step: int | None = None
    events: list = field(default_factory=list)
    trace: list = field(default_factory=list)
    gathers: list = field(default_factory=list)  # (gather id, (advertised keys, key taken))
    wall: float = 0.0

    @property
    def warnings(self):
        return [e for e in self.events if e.kind == "warning"]


class Observer:
    """Wrap a target's fetch: lint every TwiML document and keep the app's trace."""

    def __init__(self, fetch):
        self.fetch = fetch
        self.call = None
        self.trace = []

    def __call__(self, method, url, params):
        reply = self.fetch(method, url, params)
        self.trace += trace_of(reply.headers)
        kind = reply.content_type.split(";")[0].strip().lower()
        if self.call is not None and kind in lint.XML_TYPES and 200 <= reply.status < 300:
            for finding in lint.check(reply.body, reply.url or url, reply.content_type):
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


def run(scenario, target, strict=False):
    """Run one scenario against a target and return its Result."""
    started = time.monotonic()
    observer = Observer(target.fetch)
    dial = scenario.dial
    call = Call(
        target.url,
        observer,
        to=dial.get("to", "12333"),
        caller=dial.get("from", DEFAULT_CALLER),
        measure=target.measure,
    )
    observer.call = call
    result = Result(scenario, passed=True)
    words = target.hooks.words
    expected_errors = {step.value for step in scenario.steps if step.kind == "expect_error"}
    call.start()
    mark = 0
    for step in scenario.steps:
        if step.kind in scenarios.ACTIONS:
            if call.ended:
                problem = "the call had already ended"
            else:
                problem = None
                note_gather(call, step, result)
                mark = call.mark()
                act(call, step)
        else:
            problem = check(step, call, call.since(mark), words)
        if problem:
            fail(result, step, problem, call, mark, words)
            break
    if not call.ended:
        call.hangup()
    if result.passed:
        unexpected = [
            e
            for e in call.events
            if e.kind == "error" and str(e.data.get("code")) not in expected_errors
        ]
        if unexpected:
            data = unexpected[0].data
            fail(result, None, f"error {data['code']}: {data['message']}", call, 0, words)
        elif strict and any(e.kind == "warning" for e in call.events):
            data = next(e for e in call.events if e.kind == "warning").data
            fail(result, None, f"--strict: warning {data['code']}: {data['message']}", call, 0)
    result.seconds = call.t
    result.events = call.events
    result.trace = observer.trace
    result.wall = time.monotonic() - started
    return result


def act(call, step):
    if step.kind == "press":
        call.send(Keys.parse(step.value))
    elif step.kind == "wait":
        call.send(Keys())
    elif step.kind == "speak":
        call.send(Keys(speech=step.value))
    else:
        call.hangup()


def note_gather(call, step, result):
    """Remember, for coverage of an app without a flow, the keys a Gather offered and took."""
    if call.waiting is None or call.waiting.tag != "Gather":
        return
    start = max(i for i, e in enumerate(call.events) if e.kind == "gather")
    offered = advertised_keys(heard(call.events[start:]))
    action = call.events[start].data["action"]
    taken = Keys.parse(step.value).keys.rstrip("#") if step.kind == "press" else None
    result.gathers.append((gather_id(call.doc_url, action), (offered, taken)))


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


def fail(result, step, problem, call, mark, words=None):
    result.passed = False
    result.step = step.number if step else None
    last = heard(call.since(mark), words) or heard(call.events, words).split("\n")[-1]
    last = last.replace("\n", " ")
    if len(last) > HEARD_CHARS:
        last = "…" + last[-HEARD_CHARS:]
    where = f"step {step.number}: expected {scenarios.describe(step)}: " if step else ""
    result.failure = f"{where}{problem}; last heard: {last or '(nothing)'}"


class Targets:
    """Pick each scenario's target: its URL over HTTP, or the app in-process (loaded once)."""

    def __init__(self, base_url=None, app_spec=None, token=None, app=None):
        self.base_url, self.app_spec, self.token = base_url, app_spec, token
        self.app = app

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
            self.app = targets.load_app(self.app_spec)
        return targets.in_process(
            self.app, scenario.token or self.token, urljoin(targets.LOCAL_URL, url)
        )

    def model(self):
        """The flow of the in-process app, if it hands one over."""
        if self.app is None:
            return None
        hooks = getattr(self.app, "softphone_hooks", None)
        return hooks.flow() if hooks and hooks.flow else None


def run_all(files, pick, strict=False, jobs=8, environ=None):
    """Load and run scenario files; return results in the files' order (errors as failures)."""
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
            results[index] = Result(stub, passed=False, failure=str(item))
        else:
            try:
                target = pick(item)
            except Exception as error:  # noqa: BLE001 - e.g. an app that cannot be imported
                message = f"cannot reach the target: {type(error).__name__}: {error}"
                results[index] = Result(item, passed=False, failure=message)
                return
            results[index] = run(item, target, strict)

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


def junit(results, path):
    """Write JUnit XML, one testcase per scenario, for CI systems."""
    failures = sum(not r.passed for r in results)
    suite = ET.Element(
        "testsuite",
        name="softphone",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        time=f"{sum(r.wall for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=os.path.splitext(result.scenario.path)[0].replace(os.sep, "."),
            name=result.scenario.name,
            file=result.scenario.path,
            time=f"{result.wall:.3f}",
        )
        properties = ET.SubElement(case, "properties")
        ET.SubElement(
            properties, "property", name="simulated_seconds", value=f"{result.seconds:.1f}"
        )
        if not result.passed:
            ET.SubElement(case, "failure", message=result.failure).text = result.failure
        ET.SubElement(case, "system-out").text = transcript(result.events)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def transcript(events):
    """What happened on the call, one line per event (keys as masked as in the events)."""
    lines = []
    for event in events:
        data = event.data
        text = data.get("text") or data.get("keys") or data.get("url") or data.get("message") or ""
        code = f"{data['code']}: " if "code" in data else ""
        lines.append(f"[{event.t:7.1f}s] {event.kind:<9} {code}{text}")
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="softphone test", description="Run scenario files as calls."
    )
    parser.add_argument("paths", nargs="+", help="scenario files or folders of *.yaml")
    parser.add_argument(
        "--url", help="dial this URL for every scenario (relative dial URLs join it)"
    )
    parser.add_argument("--app", help="the app to run in-process (default app:app, as flask --app)")
    parser.add_argument("--token", help="auth token to sign with (default: $TWILIO_AUTH_TOKEN)")
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    parser.add_argument("--coverage", action="store_true", help="print path coverage")
    parser.add_argument("--min-coverage", type=float, metavar="N", help="fail below N percent")
    parser.add_argument("--strict", action="store_true", help="lint warnings fail a scenario")
    parser.add_argument("--jobs", type=int, default=8, help="HTTP scenarios run at once (8)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print failing transcripts")
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
    pick = Targets(args.url, args.app, args.token)
    results = run_all(files, pick, args.strict, args.jobs)
    for result in results:
        mark = "PASS" if result.passed else "FAIL"
        print(f"{mark}  {result.seconds:6.1f}s  {result.scenario.name}  ({result.scenario.path})")
        if not result.passed:
            print(f"      {result.failure}")
            if args.verbose:
                print(transcript(result.events))
        for warning in result.warnings if not args.strict else ():
            print(f"      warning {warning.data['code']}: {warning.data['message']}")
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    if args.junit:
        junit(results, args.junit)
    status = 1 if failed else 0
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
