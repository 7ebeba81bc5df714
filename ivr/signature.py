"""Check X-Twilio-Signature with twilio's RequestValidator, against the URL Twilio called."""

from urllib.parse import quote

from twilio.request_validator import RequestValidator


def public_url(request, public_base=None):
    """Rebuild the URL Twilio signed: IVR_PUBLIC_URL, else X-Forwarded-*, else the request's.

    Behind a proxy or tunnel Flask sees http://localhost:5000/... while Twilio signed
    https://public-host/..., so the public scheme and host must be put back.
    """
    path = quote(request.path)
    query = request.query_string.decode("latin-1")
    tail = path + ("?" + query if query else "")
    if public_base:
        return public_base.rstrip("/") + tail
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    scheme = proto or request.scheme
    return f"{scheme}://{host or request.host}{tail}"


def is_valid(request, token, public_base=None):
    """Return whether the request carries a valid signature for its public URL."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    params = request.form if request.method == "POST" else {}
    return RequestValidator(token).validate(public_url(request, public_base), params, signature)
