"""The baselines: a bare Flask app that answers every POST with one fixed TwiML document; the
floor, the same app validating each request as Twilio's Flask guide does (the least any signed
webhook does: read the form, check X-Twilio-Signature); and the same app validating each request
as the line does (its form reading, its signature check), which is the line's own floor."""

import os

from flask import Flask
from flask import Response
from flask import request
from twilio.request_validator import RequestValidator

from ivr import signature
from ivr.voice import WebhookRequest

DOCUMENT = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/node/main" '
    'finishOnKey="#" input="dtmf" method="POST" numDigits="1" timeout="5">'
    '<Say language="cmn-CN" voice="Polly.Zhiyu">您好，欢迎致电乌鲁木齐市人力资源和社会保障服务热线。</Say>'
    "</Gather></Response>"
)

app = Flask(__name__)
signed = Flask(__name__)
checked = Flask(__name__)
checked.request_class = WebhookRequest
TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
validator = RequestValidator(TOKEN)


@app.post("/voice", defaults={"node": None})
@app.post("/voice/node/<node>")
def voice(node):
    return Response(DOCUMENT, mimetype="text/xml")


@signed.post("/voice", defaults={"node": None})
@signed.post("/voice/node/<node>")
def signed_voice(node):
    signature = request.headers.get("X-Twilio-Signature", "")
    if not validator.validate(request.url, request.form, signature):
        return Response("invalid signature", status=403)
    return Response(DOCUMENT, mimetype="text/xml")


@checked.post("/voice", defaults={"node": None})
@checked.post("/voice/node/<node>")
def checked_voice(node):
    if not signature.is_valid(request, TOKEN):
        return Response("invalid signature", status=403)
    return Response(DOCUMENT, mimetype="text/xml")
