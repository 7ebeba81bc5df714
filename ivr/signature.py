"""Check X-Twilio-Signature with twilio's RequestValidator, against the URL Twilio called."""

from urllib.parse import quote

from twilio.request_validator import RequestValidator


def public_origin(request, public_base=None):
    """The scheme and host Twilio reaches us by: IVR_PUBLIC_URL, else the request's own.

    Behind a proxy or tunnel Flask sees http://localhost:5000/... while Twilio called
    https://public-host/...: set IVR_PUBLIC_URL, or IVR_PROXIES so that werkzeug's ProxyFix
    takes X-Forwarded-* from that many proxies. A client's own X-Forwarded-* are never read
    here, or a request signed for another app on the same Twilio account would replay here.
    """
    if public_base:
        return public_base.rstrip("/")
    return f"{request.scheme}://{request.host}"


def public_url(request, public_base=None):
    """Rebuild the exact URL Twilio signed, query string included."""
    query = request.query_string.decode("latin-1")
    return (
        public_origin(request, public_base) + quote(request.path) + ("?" + query if query else "")
    )


def is_valid(request, token, public_base=None):
    """Return whether the request carries a valid signature for its public URL."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    params = request.form if request.method == "POST" else {}
    try:
        return RequestValidator(token).validate(public_url(request, public_base), params, signature)
    except ValueError:  # a malformed Host (or forwarded host): "[::1", a port of "abc"
        return False
