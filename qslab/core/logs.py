"""Structured logs: one JSON object per line, each carrying the request id of the request it belongs to.

``JsonFormatter`` is the formatter of the ``json`` handler in ``settings.LOGGING`` (production uses it;
development too with ``LOG_FORMAT=json``). ``RequestIdFilter`` puts the current request id (set by
``qslab.core.middleware.RequestIdMiddleware``, echoed in the ``X-Request-ID`` response header) and the
acting user on every record, so a line in the log can be matched to a response and to the change log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from qslab.core import context

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is logged as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = context.current_request_id.get() or "-"
        if not hasattr(record, "user_id"):
            user = context.current_user.get()
            record.user_id = getattr(user, "pk", None)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or context.current_request_id.get() or None,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)
