"""Check X-Twilio-Signature with twilio's RequestValidator, against the URL Twilio called."""

import functools
import hmac
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


class ValidatorFields:
    """A request's fields as twilio's RequestValidator reads them: it asks each name for
    `getall(name)` first (and pays for a failed lookup without it); a MultiDict holds each
    name's values as a list already, which the validator only reads."""

    def __init__(self, fields):
        self.fields = fields
        self.getall = dict.__getitem__.__get__(fields)

    def __iter__(self):
        return iter(self.fields)

    def __len__(self):
        return len(self.fields)


@functools.lru_cache(maxsize=4)
def validator(token):
    return RequestValidator(token)


def is_valid(request, token, public_base=None):
    """Return whether the request carries a valid signature for its public URL.

    The URL as we rebuilt it is tried first (one HMAC); only when that fails does twilio's
    `validate` try the URL with and without a port, as Twilio's signers differ on it.
    """
    signature = request.environ.get("HTTP_X_TWILIO_SIGNATURE")
    if not signature:
        return False
    params = ValidatorFields(request.form) if request.method == "POST" else {}
    try:
        url = public_url(request, public_base)
        checker = validator(token)
        if hmac.compare_digest(checker.compute_signature(url, params).encode(), signature.encode()):
            return True
        return checker.validate(url, params, signature)
    except ValueError:  # a malformed Host (or forwarded host): "[::1", a port of "abc"
        return False
