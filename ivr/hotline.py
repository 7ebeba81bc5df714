"""The line itself, built once: its flow, prompts, regions, store, audio and actions, and its turns.

`create_app` builds a Hotline; the webhooks only parse a request, call `start` or `step`, and
render the turn. Nothing here knows HTTP, and nothing below it looks anything up globally.
"""

import dataclasses
import datetime as dt

from ivr import deadline
from ivr import dialog
from ivr import identity
from ivr.audio import AudioError
from ivr.calls import MAX_CALL
from ivr.calls import Sealer
from ivr.calls import new_call
from ivr.flow import FLOW_FILE
from ivr.flow import load_flow
from ivr.identity import mask
from ivr.prompts import Ref
from ivr.prompts import load_prompts
from ivr.regions import load_regions
from ivr.spoken import Value
from ivr.store import StoreError
from ivr.types import Env
from ivr.types import Speech
from ivr.types import Spoken
from ivr.types import Turn

log = identity.logger(__name__)
# Wrong-PIN counts untouched this long are forgotten (a running lock is kept until it ends).
LOCKOUT_RETENTION = dt.timedelta(days=1)
# Old ended calls and counts are swept away at most this often per process, as a call ends:
# a sweep scans its tables, and a busy line ends many calls a minute.
SWEEP_EVERY = dt.timedelta(minutes=10)
# Seconds one webhook may spend, all its waits together (store calls, the PIN-hash queue):
# Twilio waits 15 s, and the busy message must reach it before, over the network.
WEBHOOK_DEADLINE = 10
# Prompts each dialled line says its own way: 010-12393 is Beijing's 医保服务热线, an area
# code not in regions.toml gets a greeting that names no region (regions.Line.suffix).
LINE_PROMPTS = ("welcome",)
LINE_SUFFIXES = ("_12393", "_neutral", "_neutral_12393")


def load_definitions(actions, flow_file=None):
    """Load the prompts, regions and flow, checked against each other and the actions."""
    prompts = load_prompts()
    regions = load_regions()
    required = set(dialog.PROMPTS) | set(actions.prompts)
    required |= {f"region_{key}" for key in regions.by_key}
    required |= {f"{key}{suffix}" for key in LINE_PROMPTS for suffix in LINE_SUFFIXES}
    prompts.check(required)
    keys = {lang: prompts.keys(lang) for lang in prompts.texts}
    flow = load_flow(flow_file or FLOW_FILE, actions=actions.outcomes(), prompt_keys=keys)
    return prompts, regions, flow


class Effects:
    """What the dialog reaches during one request: the actions, and values prompts may read."""

    def __init__(self, actions, env):
        self.actions, self.env = actions, env

    def run(self, name, call, value):
        return self.actions.run(name, self.env, call, value)

    def prompt_values(self, call):
        """Values any prompt may read: the line's region, the number being checked, limits."""
        return {
            "region": Ref(f"region_{self.env.regions[call.line].key}"),
            "last4": Value("digits", call.last4 or ""),
            "minutes": Value("count", self.env.settings.lockout_minutes),
        }


class Hotline:
    """The 12333 line: one call's input in, the turn the caller hears out. Never raises."""

    def __init__(self, *, flow, prompts, regions, store, actions, settings, clock, audio, play):
        self.flow, self.prompts, self.regions = flow, prompts, regions
        self.store, self.actions, self.settings = store, actions, settings
        self.clock = clock  # () -> an aware datetime: tests move it by hand
        self.audio = audio  # the recorded prompts and assembled phrases
        self.play = play  # speak with <Play> of recorded audio, not <Say>
        self.sealer = Sealer(settings.secret_key)
        # Hashed now, not by the first unknown number (whose answer would then be slower).
        identity.decoy_hash(settings.pin_hash_cost)
        self.swept_at = None  # when this process last swept old calls and counts away
        self.deadline = WEBHOOK_DEADLINE
        try:  # the schema made or checked now, bounded, not under a lock on first use
            store.prepare()
        except StoreError as error:
            log.warning("start-up: the store does not answer (%s); calls will try again", error)

    def start(self, call_sid, to, caller=None):
        """A call rings in: the welcome and the main menu."""
        with deadline.within(self.deadline):
            return self._turn(call_sid, to, caller, None, None, None)

    def step(self, call_sid, node, digits, state, to=None, caller=None):
        """The caller's keys (None: nothing in time) at a node, with the state the line sealed.

        A missing, forged or expired state, or that of an ended call, starts the call afresh.
        """
        with deadline.within(self.deadline):
            return self._turn(call_sid, to, caller, node, digits, state)

    def hold(self, lang, position):
        """A caller waits in the agents' queue: what they hear before each stretch of music.

        `position` is the caller's place (1: next), or None. Asked by the queue's waitUrl,
        again each time the music ends; on any failure the caller hears the music alone.
        """
        with deadline.within(self.deadline):
            env = Env(self.store, self.regions, self.settings, self.clock())
            lang = lang if lang in self.prompts.texts else self.settings.default_lang
            try:
                call = self._new_call("", None, env.now)
                call.lang = lang
                outcome = self.actions.run("queue_wait", env, call, position)
                turn = Turn(outcome.phrases, lang=lang)
                return Spoken(turn, self._speeches(turn))
            except Exception:
                log.exception("the hold message failed; the caller hears the music alone")
                return Spoken(Turn(lang=lang), ())

    def end(self, call_sid):
        """Twilio says the call is over: remember it, so its requests are never answered again."""
        with deadline.within(self.deadline):
            self._end(call_sid)

    def _end(self, call_sid):
        now = self.clock()
        try:
            if call_sid:
                self.store.end_call(call_sid, now)
            if self.swept_at is None or now - self.swept_at >= SWEEP_EVERY:
                self.swept_at = now
                self.store.purge_calls(now - MAX_CALL)
                self.store.purge_lockouts(before=now - LOCKOUT_RETENTION, now=now)
        except Exception:
            log.exception("could not close call %s", mask(call_sid))

    def busy(self, call_sid="", to=None):
        """The busy message and a hang-up, without touching the store."""
        env = Env(self.store, self.regions, self.settings, self.clock())
        return self._busy(self._new_call(call_sid, to, env.now), Effects(self.actions, env))

    def words(self, path):
        """The words an audio path of ours says, or None (for showing a played prompt)."""
        return self.audio.text_of(path, self.store)

    def _new_call(self, call_sid, to, now):
        line = self.regions.for_dialled(to).key
        return new_call(call_sid or "", self.settings.default_lang, line, now)

    def _turn(self, call_sid, to, caller, node, digits, state):
        env = Env(self.store, self.regions, self.settings, self.clock(), caller)
        effects = Effects(self.actions, env)
        call = None
        try:
            if node is not None and state and call_sid:
                call = self.sealer.open(state, call_sid, env.now)
                if call is None:
                    log.warning("call %s: a forged or expired state; afresh", mask(call_sid))
                elif call.knows_the_caller and self.store.call_ended(call_sid):
                    log.warning("call %s: a request after the call ended", mask(call_sid))
                    call = None
            if call is None:  # a new call, or one the line cannot go on with: start afresh
                call = self._new_call(call_sid, to, env.now)
                turn = dialog.start(self.flow, call, effects)
            else:
                turn = dialog.step(self.flow, node, digits, call, effects)
            turn = self._for_line(turn, call)
            sealed = self.sealer.seal(call) if turn.gather and call_sid else None
            return Spoken(turn, self._speeches(turn), sealed)
        except Exception:
            log.exception("call %s failed; the caller hears the busy message", mask(call_sid))
            return self._busy(call or self._new_call(call_sid, to, env.now), effects)

    def _for_line(self, turn, call):
        """Speak the dialled line's own version of its prompts (welcome_12393, welcome_neutral)."""
        suffix = self.regions.line(call.line).suffix
        if not suffix:
            return turn
        phrases = tuple(
            dataclasses.replace(p, key=p.key + suffix) if p.key in LINE_PROMPTS else p
            for p in turn.phrases
        )
        return dataclasses.replace(turn, phrases=phrases)

    def _busy(self, call, effects):
        try:
            turn = dialog.fail(self.flow, call, effects)
            busy = f"exit:{call.node or self.flow.entry}:busy"
            turn = dataclasses.replace(turn, trace=(busy, *turn.trace))
            return Spoken(turn, self._speeches(turn, store=False))
        except Exception:
            log.exception("the busy message failed too; hanging up")
            return Spoken(Turn(hangup=True), ())

    def _speeches(self, turn, store=True):
        """Each phrase as text, and in play mode as the path of its recorded audio."""
        speeches = []
        for phrase in turn.phrases:
            lang = phrase.lang or turn.lang
            text = self.prompts.text(lang, phrase)
            path = None
            if self.play:
                try:
                    path = self.audio.url_path(lang, phrase, self.store if store else None)
                except AudioError as error:
                    log.warning("play mode: %s; speaking this phrase with <Say>", error)
            speeches.append(Speech(text, path, None if lang == turn.lang else lang))
        return tuple(speeches)
