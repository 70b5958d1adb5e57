"""Structured logs: one JSON object per line, with the service, the call id
of the request or event that caused it and the application number it is
about, so every line one case causes can be found in every service.

The call id is nameko's (`<service>.<method>.<uuid>`, carried from service
to service in the call's context); the application number is read from the
call's arguments or the event's payload when it has one, and a use case that
learns it later (a submission) binds it with `bind(application_no=...)`.
Personal data stays out of log lines as before: names, phones and ID numbers
are only ever logged masked (onewindow.personal).
"""
import contextvars
import datetime
import functools
import inspect
import json
import logging
import sys

from . import config

CALL_ID = contextvars.ContextVar("call_id", default=None)
APPLICATION_NO = contextvars.ContextVar("application_no", default=None)

def _format_name(value):
    if value not in ("json", "text"):
        raise ValueError("must be json or text")
    return value


log_format = config.Setting("OW_LOG_FORMAT", "json", _format_name)


def bind(application_no=None):
    """Name the case the rest of this worker's lines are about."""
    if application_no:
        APPLICATION_NO.set(str(application_no))


def about(event):
    """Name the case of the event a worker handles now (a batched handler's
    worker handles several, one after the other)."""
    number = event.get("application_no") if isinstance(event, dict) else None
    APPLICATION_NO.set(number if isinstance(number, str) else None)


@functools.lru_cache(maxsize=None)
def _signature(service_cls, method_name):
    # once per method, not once per worker: every call and event starts here
    return inspect.signature(getattr(service_cls, method_name))


def _application_no(worker_ctx):
    """From an `application_no` argument, or a payload or argument dict that carries one."""
    entrypoint = worker_ctx.entrypoint
    args, kwargs = worker_ctx.args or (), worker_ctx.kwargs or {}
    try:
        named = _signature(entrypoint.container.service_cls, entrypoint.method_name).bind_partial(
            None, *args, **kwargs).arguments
    except (TypeError, ValueError, AttributeError):
        named = dict(kwargs)
    if isinstance(named.get("application_no"), str):
        return named["application_no"]
    for value in list(named.values()) + list(args):
        if isinstance(value, dict) and isinstance(value.get("application_no"), str):
            return value["application_no"]
    return None


def enter(worker_ctx):
    """Run in the worker's own greenlet as it starts (Database.worker_setup)."""
    CALL_ID.set(worker_ctx.call_id)
    APPLICATION_NO.set(_application_no(worker_ctx))


class ContextFilter(logging.Filter):
    def __init__(self, service):
        super().__init__()
        self.service = service

    def filter(self, record):
        record.service = self.service
        record.call_id = CALL_ID.get()
        record.application_no = APPLICATION_NO.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record):
        line = {
            "at": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).astimezone().isoformat(),
            "level": record.levelname, "service": getattr(record, "service", None), "logger": record.name,
            "message": record.getMessage(),
            "call_id": getattr(record, "call_id", None), "application_no": getattr(record, "application_no", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(service, stream=None):
    """The process's logging: JSON lines (OW_LOG_FORMAT=text for a terminal)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter(service))
    if log_format() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s {service} %(levelname)s %(name)s [%(call_id)s %(application_no)s]: %(message)s"))
    # No line names its source line, thread or process: not looked up for
    # every record (under eventlet, naming the thread lists every thread;
    # with the caller's frame it was a third of a busy notify's logging).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.log_level())
    # py-amqp warns of every publisher confirm that arrives as a pooled channel closes: noise, not news
    logging.getLogger("amqp").setLevel(logging.ERROR)
    return handler
