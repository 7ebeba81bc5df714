"""What `make serve` runs under gunicorn: an access log that never shows a whole number."""

from gunicorn.glogging import Logger

from ivr.identity import mask_text


class MaskedLogger(Logger):
    """Gunicorn's logger, with every long run of digits in an access line masked to its last 4."""

    def access(self, resp, req, environ, request_time):
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.syslog):
            return
        atoms = self.atoms(resp, req, environ, request_time)
        try:
            self.access_log.info(mask_text(self.cfg.access_log_format % atoms))
        except Exception:  # noqa: BLE001 - as gunicorn's own: a log line never fails a request
            self.exception("failed to write an access log line")
