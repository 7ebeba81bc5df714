"""Whatever arrives at a webhook, the line answers TwiML: requests made up by hypothesis.

Every webhook and field (Digits, CallSid, From, To, node ids, the sealed state `s`), GET and
POST, unicode and sizes, signed as Twilio signs (for GET the signature covers the query).
The sealed states are real ones, taken from a call at each of its steps, and posted to any
node with any call's CallSid: a replayed, misplaced or foreign state.
"""

import xml.etree.ElementTree as ET
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from softphone.dialer import signed
from werkzeug.exceptions import HTTPException

from ivr.calls import STATE_PARAM
from ivr.flow import load_flow
from tests.conftest import TOKEN
from tests.test_webhooks import Caller
from tests.test_webhooks import post

NODES = sorted(load_flow().nodes)
# A real call's steps, to the balance: (node, digits) as its Gathers post them.
CALL = (
    ("main", "1"),
    ("identify", "11010519491231002*"),
    ("pin", "123456"),
    ("balance", "1"),
)
# Big enough for unicode and floods, small enough that a POST stays under MAX_CONTENT_LENGTH
# (64 KiB, refused with 413 before it is read: not a webhook's answer).
BIG = 600


def real_states(client):
    """(CallSid, sealed state) after each step of two real calls, the second one ended."""
    states = []
    for sid in ("CA" + "a" * 32, "CA" + "b" * 32):
        caller = Caller(client, sid)
        caller.ring()
        states.append((sid, caller.state))
        for node, digits in CALL:
            caller.press(node, digits)
            states.append((sid, caller.state))
    assert post(client, "/voice/status", {"CallSid": sid}).status_code == 200
    return states


def text(max_size=BIG):
    return st.text(max_size=max_size)


def keys():
    return st.one_of(st.text(alphabet="0123456789*#", max_size=40), text(), st.just(""))


@st.composite
def requests(draw, states):
    """One request Twilio could send, or anyone could: method, path, state, fields, signed."""
    method = draw(st.sampled_from(("GET", "POST")))
    sid, state = draw(st.sampled_from(states))
    node = draw(st.one_of(st.sampled_from(NODES), text(80), st.just("")))
    path = draw(
        st.sampled_from(
            ("/voice", "/voice/status", f"/voice/node/{quote(node)}", f"/voice/{quote(node)}")
        )
    )
    state = draw(
        st.one_of(
            st.just(state), st.none(), text(), st.sampled_from([other for _, other in states])
        )
    )
    sid = draw(st.one_of(st.just(sid), text(64), st.just("")))
    fields = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "CallSid": st.just(sid),
                "Digits": keys(),
                "From": st.one_of(st.just("+8613800138000"), text(40), text()),
                "To": st.one_of(st.sampled_from(("12333", "+8610123", "")), text()),
                "CallStatus": st.one_of(st.just("in-progress"), text(20)),
                "SpeechResult": text(),
            },
        )
    )
    fields |= draw(st.dictionaries(text(20), text(), max_size=3))
    good = draw(st.sampled_from((True, True, True, False)))  # signed right, or not
    return method, path, state, fields, good


def send(client, method, path, state, fields, good):
    """Send it as Twilio would, signed with the line's token (or not quite)."""
    url = "http://localhost" + path
    if state is not None:
        url += "?" + urlencode({STATE_PARAM: state})
    url, headers = signed(method, url, fields, TOKEN if good else TOKEN + "x")
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    data = fields if method == "POST" else None
    return client.open(target, method=method, data=data, headers=headers)


def routed(app, path, method):
    """Whether a path is one of the webhooks (the others answer the busy message, unsigned)."""
    try:
        app.url_map.bind("localhost").match(path, method)
    except HTTPException:
        return False
    return True


def assert_twiml(response, request):
    assert response.status_code == 200, request
    assert response.mimetype == "text/xml", request
    assert ET.fromstring(response.data).tag == "Response", request


@pytest.fixture
def line(make_app):
    app = make_app()
    client = app.test_client()
    return app, client, real_states(client)


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=(HealthCheck.function_scoped_fixture, HealthCheck.too_slow),
)
@given(data=st.data())
def test_any_request_gets_twiml_never_a_5xx(line, data):
    app, client, states = line
    method, path, state, fields, good = data.draw(requests(states))
    response = send(client, method, path, state, fields, good)
    assert response.status_code < 500
    if not good and routed(app, unquote(path), method):
        assert response.status_code == 403
        return
    if response.status_code == 403:  # the only refusal, and only for a bad signature
        assert not good, (method, path, fields)
        return
    assert_twiml(response, (method, path, state, fields))


# Paths no Gather of the line ever names, but a misconfigured number or a scanner may call:
# each still hears words (the busy message), never an HTML page or a redirect.
ODD_PATHS = (
    "/voice/node//main",  # a doubled slash: werkzeug would merge it with a 308 redirect
    "/voice//node/main",
    "/voice/node/main/",
    "/voice/",
    "/voice/node/%2F",
    "/voice/node/a%00b",
    "/voice/node/" + "x" * 5000,
    "/voice/nothing",
)


@pytest.mark.parametrize("method", ("GET", "POST"))
@pytest.mark.parametrize("path", ODD_PATHS)
def test_odd_paths_under_voice_get_twiml(client, method, path):
    response = send(client, method, path, None, {"CallSid": "CA1", "Digits": "1"}, True)
    assert_twiml(response, (method, path))


# The sealed state says nothing about the caller by its length (issue 20, point 2)


def action_at_pin_prompt(client, sid, number):
    """The URL the line's PIN prompt posts back to, after `number` was keyed."""
    caller = Caller(client, sid)
    caller.ring()
    caller.press("main", "1")
    response = caller.press("identify", number.replace("X", "*"))  # X is keyed as *
    action = ET.fromstring(response.data).find("Gather").get("action")
    assert action.startswith("/voice/node/pin?"), response.data  # the PIN prompt
    return action


# Known and unknown numbers of each kind: an ID (check digit right) and a card serial.
KNOWN = ("11010519491231002X", "440305199002200139", "110000001", "440300003")
UNKNOWN = ("110105194912310038", "110101199001010015", "110000009", "999999999")


def test_known_and_unknown_numbers_give_urls_of_one_length(client):
    lengths = {
        number: len(action_at_pin_prompt(client, f"CA{index:032d}", number))
        for index, number in enumerate(KNOWN + UNKNOWN)
    }
    assert len(set(lengths.values())) == 1, lengths


@settings(max_examples=100, deadline=None, database=None)
@given(
    account_id=st.one_of(st.none(), st.integers(0, 2**53)),
    subject=st.one_of(st.none(), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)),
    last4=st.one_of(st.none(), st.text(alphabet="0123456789X", min_size=4, max_size=4)),
    tries=st.integers(0, 9),
    new_pin_hash=st.one_of(st.none(), st.just("scrypt$16384$8$1$" + "A" * 24 + "$" + "B" * 44)),
)
def test_every_state_seals_to_one_length(account_id, subject, last4, tries, new_pin_hash):
    from ivr.calls import CallState
    from ivr.calls import Sealer

    state = CallState(
        "CA" + "f" * 32, "zh", "urumqi", node="confirm_new_pin", tries=tries, subject=subject,
        pending_account_id=account_id, last4=last4, account_id=account_id, started_at=2**31,
        route="card", pin_checked=True, new_pin_hash=new_pin_hash,
    )  # fmt: skip
    empty = CallState("CA" + "f" * 32, "en", "beijing")
    assert len(Sealer("k").seal(state)) == len(Sealer("k").seal(empty))
