"""The baseline: a bare Flask app that answers every POST with one fixed TwiML document."""

from flask import Flask
from flask import Response

DOCUMENT = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/node/main" '
    'finishOnKey="#" input="dtmf" method="POST" numDigits="1" timeout="5">'
    '<Say language="cmn-CN" voice="Polly.Zhiyu">您好，欢迎致电乌鲁木齐市人力资源和社会保障服务热线。</Say>'
    "</Gather></Response>"
)

app = Flask(__name__)


@app.post("/voice", defaults={"node": None})
@app.post("/voice/node/<node>")
def voice(node):
    return Response(DOCUMENT, mimetype="text/xml")
