"""`GET /healthz` for load balancers: 200 when the store answers, 503 when it does not."""

from flask import Blueprint
from flask import current_app
from flask import jsonify

from ivr import identity

log = identity.logger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Say whether this worker can reach the store (the menus work even when it cannot)."""
    try:
        current_app.extensions["ivr"].store.ping()
    except Exception as error:  # noqa: BLE001 - any failure means: take me out of rotation
        log.warning("health check: the store does not answer (%s)", type(error).__name__)
        return jsonify({"store": "unreachable"}), 503
    return jsonify({"store": "ok"}), 200


def init_app(app):
    app.register_blueprint(bp)
