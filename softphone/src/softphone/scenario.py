"""Scenario files: one YAML call script each, checked against their JSON Schema before dialling.

    name: balance by ID number, Beijing line
    tags: [smoke]
    dial: {to: "010-12333"}   # also url, from, method, status_callback, fallback_url, answer...
    env: {token: "${TWILIO_AUTH_TOKEN}"}
    steps:
      - expect: "Welcome"
      - press: "1"
      - expect: {regex: "ID card.*press 1"}
      - speak: {text: "my balance", at: 2}   # or speak: "my balance", once the prompt played
      - hangup: {at: 5}                      # or hangup: true

`${NAME}` is read from the environment (then from `env`); `${RANDOM:N}` is N random digits,
the same at every use in one run. A mistake names the file, the step number and the field.
"""

import functools
import json
import os
import re
import secrets
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).parent / "schemas" / "scenario.schema.json"
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
MAX_INCLUDES = 8  # files deep: a file that includes itself, however far round, is refused


class ScenarioError(ValueError):
    """A scenario that cannot run; the message names the file, the step and the field."""


@dataclass(frozen=True)
class Step:
    number: int  # 1-based, as a reader counts the list
    kind: str
    value: object
    shown: str = ""  # as written, before `${...}` is filled: a PIN stays `${PIN}`
    at: float | None = None  # speak and hangup: seconds into the prompt (None: once it played)
    within: str = ""  # for a step of an included file: "step 3 > login.steps.yaml "

    @property
    def label(self):
        """Where a reader finds the step: "step 4", or "step 3 > login.steps.yaml step 2"."""
        return f"{self.within}step {self.number}"


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
    """Return the scenario files under the given files and folders, in a stable order.

    In a folder, every *.yaml but the *.steps.yaml files that scenarios `include:`.
    """
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.suffix in SUFFIXES and p.is_file() and not p.stem.endswith(".steps")
            )
        elif path.exists():
            found.append(path)
        else:
            raise ScenarioError(f"{path}: no such file or folder")
    return [str(path) for path in found]


def load(path, environ=None):
    """Read and check one scenario file, with `${...}` filled in."""
    return parse(_read(path, str(path)), path, environ)


def _read(path, where):
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(f"{where}: cannot be read: {error.strerror}") from None


def parse(text, path="<scenario>", environ=None):
    """Parse and check a scenario's YAML text."""
    data = _checked(text, path)
    expand = Expander(path, {}, os.environ if environ is None else environ)
    env = {key: expand(str(value), "env", key) for key, value in data.get("env", {}).items()}
    expand.env = env
    dial = {name: expand(str(value), "dial", name) for name, value in data.get("dial", {}).items()}
    parsed = _steps(data["steps"], path, expand)
    name = data.get("name") or Path(path).stem
    tags = tuple(data.get("tags", ()))
    return Scenario(str(path), str(name), parsed, dial, env, tags)


def _checked(text, path):
    """The YAML text as data, checked against the schema; ScenarioError naming what is wrong."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"{path}: not valid YAML{where}: {error}") from None
    problem = first_problem(data)
    if problem:
        raise ScenarioError(f"{path}: {problem}")
    return data


def schema():
    """The JSON Schema of scenario files, as shipped beside this module."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.cache
def _validator():
    return jsonschema.Draft202012Validator(schema())


def first_problem(data):
    """The first thing wrong with a scenario as a reader meets it, in words; None if none."""
    errors = list(_validator().iter_errors(data))
    if not errors:
        return None
    error = min(errors, key=lambda e: [(0, p) if isinstance(p, int) else (1, p) for p in e.path])
    where = [f"step {p + 1}" if isinstance(p, int) else p for p in error.path if p != "steps"]
    if list(error.path) == ["steps"]:
        where = ["steps"]
    message = error.schema.get("x-message") or error.message
    if error.validator == "additionalProperties":
        known = ", ".join(error.schema["properties"])
        unknown = sorted(set(error.instance) - set(error.schema["properties"]))[0]
        message = f"unknown field {unknown!r} (known: {known})"
    elif error.validator == "required":
        missing = error.message.split("'")[1]
        where.append(missing)
        message = error.schema["properties"][missing].get("x-message", error.message)
    elif error.validator in ("minProperties", "maxProperties") and where[:1] != ["dial"]:
        message = f"{message}, not {error.instance!r}"
    return ": ".join([*where, message])


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


def _steps(raw_steps, path, expand, within="", seen=()):
    """The steps of a file, `include:`s replaced by the steps of the files they name."""
    steps = []
    for number, raw in enumerate(raw_steps, 1):
        if "include" not in raw:
            steps.append(_step(number, raw, path, expand, within))
            continue
        where = f"{within}step {number}"
        included = Path(path).parent / expand(raw["include"], where, "include")
        if included.resolve() in seen or len(seen) >= MAX_INCLUDES:
            raise ScenarioError(f"{path}: {where}: include: {included} includes itself")
        text = _read(included, f"{path}: {where}: include")
        data = _checked(text, included)
        inner = f"{where} > {included.name} "
        steps += _steps(data["steps"], included, expand, inner, (*seen, Path(path).resolve()))
    return steps


def _step(number, raw, path, expand, within=""):
    """One step, its `${...}` filled, checked for what the schema cannot see (keys, regexes)."""
    where = f"{within}step {number}"
    ((kind, value),) = raw.items()

    def bad(why):
        return ScenarioError(f"{path}: {where}: {kind}: {why}")

    if kind == "press":
        value = expand(str(value), where, kind).replace(" ", "")
        if not KEYS.match(value):
            raise bad(f"{value!r} is not keys: 0-9 * # w, then an optional @seconds")
    elif kind == "speak":
        words = value["text"] if isinstance(value, dict) else value
        at = value.get("at") if isinstance(value, dict) else None
        return Step(number, kind, expand(words, where, kind), words, at, within)
    elif kind == "hangup":
        at = value.get("at") if isinstance(value, dict) else None
        return Step(number, kind, True, at=at, within=within)
    elif kind == "expect_play":
        value = expand(value, where, kind)
    elif kind in ("expect", "expect_not"):
        value = _heard(value, bad, lambda text: expand(text, where, kind))
    elif kind == "expect_transfer" and value is not True:
        value = {key: expand(str(text), where, kind) for key, text in value.items()}
    elif kind == "expect_error":
        value = str(value)
    shown = raw[kind] if isinstance(raw[kind], str) else ""
    return Step(number, kind, value, shown, within=within)


def _heard(value, bad, expand):
    """An expected text: a substring, or {regex: PATTERN} compiled."""
    if not isinstance(value, dict):
        return expand(str(value))
    pattern = expand(value["regex"])
    try:
        return re.compile(pattern)
    except re.error as error:
        raise bad(f"regex {pattern!r} is not valid: {error}") from None


def describe(step):
    """A step as a reader wrote it, for failure messages."""
    value = step.value
    at = f" at {step.at:g} s" if step.at is not None else ""
    if isinstance(value, re.Pattern):
        value = f"regex {value.pattern!r}"
    elif value is True:
        return step.kind + at
    else:
        value = repr(step.shown or value)
    return f"{step.kind} {value}{at}"
