"""Scenario files: one YAML call script each, checked field by field before anything is dialled.

    name: balance by ID number, Beijing line
    dial: {to: "010-12333"}           # or {url: "https://host/voice", to: ..., from: ...}
    env: {token: "${TWILIO_AUTH_TOKEN}"}
    steps:
      - expect: "Welcome"
      - press: "1"
      - expect: {regex: "ID card.*press 1"}

`${NAME}` is read from the environment (then from `env`); `${RANDOM:N}` is N random digits,
the same at every use in one run. A mistake names the file, the step number and the field.
"""

import os
import re
import secrets
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import yaml

TOP_FIELDS = ("name", "tags", "dial", "env", "steps")
DIAL_FIELDS = ("to", "url", "from")
# Each step is a mapping of one of these to its value.
ACTIONS = ("press", "wait", "speak", "hangup")
CHECKS = (
    "expect",
    "expect_not",
    "expect_hangup",
    "expect_transfer",
    "expect_error",
    "expect_play",
)
KEYS = re.compile(r"^[0-9*#wW]+(@\d+(\.\d+)?)?$")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*|RANDOM:\d{1,3})\}")
SUFFIXES = (".yaml", ".yml")


class ScenarioError(ValueError):
    """A scenario that cannot run; the message names the file, the step and the field."""


@dataclass(frozen=True)
class Step:
    number: int  # 1-based, as a reader counts the list
    kind: str
    value: object
    shown: str = ""  # as written, before `${...}` is filled: a PIN stays `${PIN}`


@dataclass
class Scenario:
    path: str
    name: str
    steps: list
    dial: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    tags: tuple = ()

    @property
    def token(self):
        """The auth token to sign with, if the scenario names one."""
        return self.env.get("token") or None


def discover(paths):
    """Return the scenario files under the given files and folders, in a stable order."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        elif path.exists():
            found.append(path)
        else:
            raise ScenarioError(f"{path}: no such file or folder")
    return [str(path) for path in found]


def load(path, environ=None):
    """Read and check one scenario file, with `${...}` filled in."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(f"{path}: cannot be read: {error.strerror}") from None
    return parse(text, path, environ)


def parse(text, path="<scenario>", environ=None):
    """Parse and check a scenario's YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"{path}: not valid YAML{where}: {error}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping with name, dial, env and steps")
    for name in data:
        if name not in TOP_FIELDS:
            raise ScenarioError(f"{path}: unknown field {name!r} (known: {', '.join(TOP_FIELDS)})")
    env = _mapping(data.get("env"), path, "env")
    expand = Expander(path, env, os.environ if environ is None else environ)
    env = {key: expand(str(value), "env", key) for key, value in env.items()}
    expand.env = env
    dial = _mapping(data.get("dial"), path, "dial")
    for name, value in dial.items():
        if name not in DIAL_FIELDS:
            raise ScenarioError(
                f"{path}: dial: unknown field {name!r} (known: {', '.join(DIAL_FIELDS)})"
            )
        if not isinstance(value, (str, int)):
            raise ScenarioError(f"{path}: dial: {name} must be text")
    dial = {name: expand(str(value), "dial", name) for name, value in dial.items()}
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ScenarioError(f"{path}: steps: a list of at least one step is required")
    parsed = [_step(number, raw, path, expand) for number, raw in enumerate(steps, 1)]
    name = data.get("name") or Path(path).stem
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.isidentifier() for t in tags):
        raise ScenarioError(f"{path}: tags: a list of names, e.g. [smoke, lockout]")
    return Scenario(str(path), str(name), parsed, dial, env, tuple(tags))


def _mapping(value, path, name):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(f'{path}: {name}: must be a mapping, e.g. {{to: "12333"}}')
    return value


class Expander:
    """Fill `${NAME}` from the environment or the scenario's env; `${RANDOM:N}` once a run."""

    def __init__(self, path, env, environ):
        self.path, self.env, self.environ = path, env, environ
        self.random = {}

    def __call__(self, text, where, name):
        def value(match):
            variable = match.group(1)
            if variable.startswith("RANDOM:"):
                count = int(variable.split(":")[1])
                if variable not in self.random:
                    self.random[variable] = "".join(
                        str(secrets.randbelow(10)) for _ in range(count)
                    )
                return self.random[variable]
            found = self.environ.get(variable, self.env.get(variable))
            if found is None:
                raise ScenarioError(
                    f"{self.path}: {where}: {name}: ${{{variable}}} is not set in the environment"
                )
            return str(found)

        return VARIABLE.sub(value, text)


def _step(number, raw, path, expand):
    where = f"step {number}"
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ScenarioError(
            f'{path}: {where}: a step is one field, e.g. `- press: "1"`, not {raw!r}'
        )
    ((kind, value),) = raw.items()
    if kind not in ACTIONS + CHECKS:
        raise ScenarioError(
            f"{path}: {where}: unknown field {kind!r} (known: {', '.join(ACTIONS + CHECKS)})"
        )

    def bad(why):
        return ScenarioError(f"{path}: {where}: {kind}: {why}")

    if kind == "press":
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise bad('keys as text, e.g. "1", "123456#" or "1@0.5"')
        value = expand(str(value), where, kind).replace(" ", "")
        if not KEYS.match(value):
            raise bad(f"{value!r} is not keys: 0-9 * # w, then an optional @seconds")
    elif kind in ("wait", "hangup", "expect_hangup"):
        if value is not True:
            raise bad("must be true")
    elif kind in ("speak", "expect_play"):
        if not isinstance(value, str) or not value.strip():
            raise bad("must be some text")
        value = expand(value, where, kind)
    elif kind in ("expect", "expect_not"):
        value = _text_check(value, bad, lambda text: expand(text, where, kind))
    elif kind == "expect_transfer":
        if value is not True:
            if not isinstance(value, dict) or set(value) - {"queue", "to"} or not value:
                raise bad("true, or {queue: NAME} or {to: NUMBER}")
            value = {key: expand(str(text), where, kind) for key, text in value.items()}
    elif kind == "expect_error":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise bad("a Twilio error code, e.g. 11200")
        value = str(value)
    shown = raw[kind] if isinstance(raw[kind], str) else ""
    return Step(number, kind, value, shown)


def _text_check(value, bad, expand):
    """An expected text: a substring, or {regex: PATTERN}."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        if not value:
            raise bad("must not be empty")
        return expand(value)
    if isinstance(value, dict) and set(value) == {"regex"} and isinstance(value["regex"], str):
        pattern = expand(value["regex"])
        try:
            return re.compile(pattern)
        except re.error as error:
            raise bad(f"regex {pattern!r} is not valid: {error}") from None
    raise bad('text, or {regex: "PATTERN"}')


def describe(step):
    """A step as a reader wrote it, for failure messages."""
    value = step.value
    if isinstance(value, re.Pattern):
        value = f"regex {value.pattern!r}"
    elif value is True:
        return step.kind
    else:
        value = repr(step.shown or value)
    return f"{step.kind} {value}"
