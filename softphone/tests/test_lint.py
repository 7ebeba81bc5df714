"""TwiML lint: broken documents get Twilio's codes; the hotline's documents get none."""

import pytest
from flask import Flask
from local_server import serving_in_thread
from softphone.__main__ import main

from softphone import lint
from softphone import target as targets


def codes(document, **options):
    return [finding.code for finding in lint.check(document, **options)]


def test_a_clean_document_has_no_findings():
    document = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Gather input="dtmf" action="/voice/node/main" method="POST" timeout="5" numDigits="1"'
        ' finishOnKey="#"><Say voice="Polly.Zhiyu" language="cmn-CN">请按1</Say><Pause length="1"/>'
        '</Gather><Redirect method="POST">/voice/node/main</Redirect></Response>'
    )
    assert lint.check(document, url="https://ivr.example/voice") == []


@pytest.mark.parametrize(
    ("document", "code", "words"),
    (
        (' <?xml version="1.0"?><Response/>', 12100, "whitespace before the XML declaration"),
        ("<Response><Say>hi</Response>", 12100, "not well-formed XML"),
        ("<Reponse><Say>hi</Say></Reponse>", 12102, "the root element is <Reponse>"),
        ("<Response><Speak>hi</Speak></Response>", 12200, "<Speak> is not a TwiML verb"),
        ('<Response><Say voise="alice">hi</Say></Response>', 12200, "no attribute 'voise'"),
        ("<Response>hello<Hangup/></Response>", 12200, "text 'hello' outside any verb"),
        ('<Response><Gather finishOnKey="##"/></Response>', 13310, "finishOnKey='##'"),
        ('<Response><Gather finishOnKey="A"/></Response>', 13310, "finishOnKey='A'"),
        ('<Response><Gather method="PUT"/></Response>', 13312, "method='PUT': GET or POST"),
        ('<Response><Gather timeout="0"/></Response>', 13313, "timeout='0'"),
        ('<Response><Gather numDigits="one"/></Response>', 13314, "numDigits='one'"),
        ("<Response><Gather><Dial>110</Dial></Gather></Response>", 13320, "<Dial> cannot be"),
        ('<Response><Gather><Say loop="-1">x</Say></Gather></Response>', 13322, "loop='-1'"),
        ('<Response><Gather actionOnEmptyResult="yes"/></Response>', 13338, "true or false"),
        ('<Response><Play loop="x">https://a.example/a.mp3</Play></Response>', 13410, "loop"),
        ('<Response><Say loop="-2">hi</Say></Response>', 13510, "loop='-2'"),
        (
            '<Response><Say voice="Polly.Zhiyu" language="zh-CN">你好</Say></Response>',
            13511,
            "Polly.Zhiyu speaks cmn-CN, not language='zh-CN'",
        ),
        ('<Response><Say voice="Polly.Zhiyu">你好</Say></Response>', 13511, "needs language"),
        ('<Response><Say language="cmn-CN">你好</Say></Response>', 13511, "'man' cannot speak"),
        ("<Response><Say>  </Say></Response>", 13520, "<Say> has no text"),
        ('<Response><Redirect method="DELETE">/x</Redirect></Response>', 13710, "GET or POST"),
        ('<Response><Pause length="-1"/></Response>', 13910, "length='-1'"),
        ("<Response><Play>ftp://a.example/a.mp3</Play></Response>", 11100, "not an http(s) URL"),
        ("<Response><Dial></Dial></Response>", 13224, "nothing to dial"),
        ("<Response><Hangup/><Say>late</Say></Response>", None, "never runs"),
    ),
)
def test_broken_documents(document, code, words):
    findings = lint.check(document, url="https://ivr.example/voice")
    assert [f.code for f in findings] == [code]
    assert words in str(findings[0])


def test_hosts_that_do_not_resolve_are_flagged():
    document = '<Response><Gather action="https://no-such-host.invalid/x"/></Response>'
    found = lint.check(document, url="https://ivr.example/voice", resolve_hosts=True)
    assert [f.code for f in found] == [11210]
    assert "'no-such-host.invalid' does not resolve" in str(found[0])


def test_play_urls_are_fetched_and_must_be_audio():
    app = Flask("audio")
    app.add_url_rule("/a.wav", "wav", lambda: (b"RIFF", 200, {"Content-Type": "audio/wav"}))
    app.add_url_rule("/page", "page", lambda: ("<html></html>", 200, {"Content-Type": "text/html"}))
    fetch = targets.in_process(app).fetch
    document = "<Response><Play>/a.wav</Play><Play>/page</Play><Play>/missing.wav</Play></Response>"
    found = lint.check(document, url="http://localhost/voice", fetch=fetch)
    assert [f.code for f in found] == [13420, 11200]
    assert "answered HTTP 404" in str(found[1])


def test_wrong_content_type_is_12300():
    assert codes("{}", content_type="application/json") == [12300]


def test_the_lint_command_on_a_file_and_a_url(tmp_path, capsys):
    broken = tmp_path / "broken.xml"
    broken.write_text('<Response><Gather numDigits="0"><Say/></Gather></Response>')
    assert main(["lint", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "13314  Response/Gather[1]: numDigits='0': a positive whole number" in out
    assert "13520  Response/Gather[1]/Say[1]: <Say> has no text" in out
    app = Flask("clean")
    app.post("/voice")(
        lambda: ("<Response><Say>Goodbye.</Say></Response>", 200, {"Content-Type": "text/xml"})
    )
    with serving_in_thread(app) as base:
        assert main(["lint", base + "/voice"]) == 0
    assert "no findings" in capsys.readouterr().out
