"""Write a call as a scenario file that replays it: its keys, and the first words heard after each.

Keys at a Gather whose action is secret (a PIN) are written as `${PIN}`, read from the
environment at replay and never stored.
"""

import re

import yaml

from softphone import target as targets
from softphone.interpreter import Keys

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


def _press(answer, secret, pin_variable):
    if answer.speech is not None:
        return {"speak": answer.speech}
    if not answer.keys:
        return {"wait": True}
    if secret:
        return {"press": f"${{{pin_variable}}}" + ("#" if answer.keys.endswith("#") else "")}
    at = f"@{answer.at:g}" if answer.at is not None else ""
    return {"press": answer.keys + at}


def scenario_of(events, answers, name=None, pin_variable="PIN"):
    """Return the scenario (a dict) that replays a call: its events and the Keys it was sent."""
    answers = [a if isinstance(a, Keys) else Keys.parse(a) for a in answers]
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
        elif event.kind in ("keys", "silence") and pending:
            flush()
            steps.append(_press(pending.pop(0), secret, pin_variable))
        elif event.kind == "hangup" and event.data.get("by") == "caller":
            if not event.data.get("reason"):
                flush()
                steps.append({"hangup": True})
    flush()
    transfer = next((e for e in events if e.kind == "transfer"), None)
    if transfer and transfer.data.get("queue"):
        steps.append({"expect_transfer": {"queue": transfer.data["queue"]}})
    elif any(e.kind == "hangup" and e.data.get("by") != "caller" for e in events):
        steps.append({"expect_hangup": True})
    url = dial.get("url", "")
    dial_out = {"to": str(dial.get("to", "12333"))}
    if url and url != targets.LOCAL_URL:
        dial_out = {"url": url, **dial_out}
    return {"name": name or f"a call to {dial_out['to']}", "dial": dial_out, "steps": steps}


def write_scenario(events, path, answers, name=None, pin_variable="PIN"):
    """Write the scenario that replays a call to `path` (YAML); return it as a dict."""
    document = scenario_of(events, answers, name, pin_variable)
    with open(path, "w", encoding="utf-8") as file:
        file.write("# Saved from a call; PIN keys are read from $" + pin_variable + " at replay.\n")
        yaml.safe_dump(document, file, allow_unicode=True, sort_keys=False, width=100)
    return document
