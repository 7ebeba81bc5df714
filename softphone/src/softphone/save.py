"""Write a call as a scenario file that replays it: its keys, and the first words heard after each.

Keys at a Gather the app marks secret (a PIN) and entries longer than eight keys (an ID or card
number) are written as variables (`${PIN}`, `${NUMBER}`), read from the environment at replay
and never stored.
"""

import re

import yaml

from softphone import target as targets
from softphone.interpreter import Keys
from softphone.settings import DEFAULT_TO

FIRST_WORDS = 24  # characters of the first thing heard, kept as a step's expect
SENTENCE_END = re.compile(r"[。；;！!？?：:]|[.,](\s|$)|，")


def first_words(text):
    """The first words of a prompt: up to its first pause, at most FIRST_WORDS characters."""
    text = text.strip()
    end = SENTENCE_END.search(text)
    cut = text[: end.start()] if end and end.start() >= 4 else text
    if len(cut) > FIRST_WORDS:
        cut = cut[:FIRST_WORDS]
        cut = cut.rsplit(" ", 1)[0] if " " in cut else cut  # whole words where there are words
    return cut.strip()


LONGEST_CLEAR = 8  # keys longer than this (an ID or card number) are saved as a variable


class Secrets:
    """Name each secret or long entry once: PIN, PIN_2 … for secret prompts, NUMBER … else."""

    def __init__(self):
        self.names = {}  # keys -> variable name

    def name(self, keys, secret):
        if keys not in self.names:
            base = "PIN" if secret else "NUMBER"
            taken = sum(name.split("_")[0] == base for name in self.names.values())
            self.names[keys] = base if not taken else f"{base}_{taken + 1}"
        return self.names[keys]


def _press(answer, secret, secrets):
    if answer.speech is not None:
        timed = {"text": answer.speech, "at": answer.at}
        return {"speak": answer.speech if answer.at is None else timed}
    if not answer.keys:
        return {"wait": True}
    at = f"@{answer.at:g}" if answer.at is not None else ""
    entry = answer.keys.removesuffix("#")
    if entry and (secret or len(entry) > LONGEST_CLEAR):
        variable = secrets.name(entry, secret)
        return {"press": f"${{{variable}}}" + answer.keys[len(entry) :] + at}
    return {"press": answer.keys + at}


def scenario_of(events, answers, name=None, number=None, secrets=None):
    """Return the scenario (a dict) that replays a call: its events and the Keys it was sent."""
    answers = [a if isinstance(a, Keys) else Keys.parse(a) for a in answers]
    secrets = secrets if secrets is not None else Secrets()
    dial = next((e.data for e in events if e.kind == "dial"), {})
    steps, said, pending = [], [], list(answers)
    secret = False

    def flush():
        if said:
            steps.append({"expect": first_words(said[0])})
        said.clear()

    for event in events:
        if event.kind == "gather":
            secret = bool(event.data.get("secret"))
        elif event.kind == "say":
            said.append(event.data["text"])
        elif event.kind in ("keys", "silence", "speech") and pending:
            flush()
            steps.append(_press(pending.pop(0), secret, secrets))
        elif event.kind == "hangup" and event.data.get("by") == "caller":
            if not event.data.get("reason"):
                flush()
                timed = pending.pop(0) if pending and pending[0].hangup else Keys(hangup=True)
                steps.append({"hangup": True if timed.at is None else {"at": timed.at}})
    flush()
    transfer = next((e for e in events if e.kind == "transfer"), None)
    if transfer and transfer.data.get("queue"):
        steps.append({"expect_transfer": {"queue": transfer.data["queue"]}})
    elif any(e.kind == "hangup" and e.data.get("by") != "caller" for e in events):
        steps.append({"expect_hangup": True})
    url = dial.get("url", "")
    to = str(dial.get("to", DEFAULT_TO))
    written = {**(number.as_dial() if number else {}), "to": to}
    where = "the app in-process"
    if url and url != targets.LOCAL_URL:
        written = {"url": url, **written}
        where = url
    return {"name": name or f"a call to {to} at {where}", "dial": written, "steps": steps}


def write_scenario(events, path, answers, number=None, name=None):
    """Write the scenario that replays a call to `path` (YAML); return it as a dict."""
    secrets = Secrets()
    document = scenario_of(events, answers, name, number, secrets)
    with open(path, "w", encoding="utf-8") as file:
        file.write("# Saved from a call by softphone --save.\n")
        if secrets.names:
            names = ", ".join(f"${v}" for v in secrets.names.values())
            file.write(f"# Entries kept out of this file; set them to replay it: {names}\n")
        yaml.safe_dump(document, file, allow_unicode=True, sort_keys=False, width=100)
    return document
