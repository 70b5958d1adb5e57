"""The portal's HTTP side: a request becomes a Visit (its session, checked
CSRF token, posted inputs), a use case's View becomes a page rendered from
the Jinja2 templates, with the security headers on every answer.

No script at all: every page works without JavaScript, and the
Content-Security-Policy forbids scripts, inline styles and framing. HSTS is
sent only over TLS (behind a proxy that says so, PORTAL_PROXY_HOPS)."""
import logging
import pathlib
import re

import jinja2
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from onewindow import config
from onewindow.config import Setting, non_negative_float

from . import cases, domain
from .store import PortalStore

log = logging.getLogger(__name__)

HERE = pathlib.Path(__file__).resolve().parent
STATIC = HERE / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}

TIMEOUT_SECONDS = Setting("PORTAL_TIMEOUT_SECONDS", "10", non_negative_float,
                          "how long a page waits for another service before saying 'try again later'")
CATALOG_SECONDS = Setting("PORTAL_CATALOG_SECONDS", "30", non_negative_float,
                          "how long a portal process keeps the item catalog before asking intake again")
PROXY_HOPS = Setting("PORTAL_PROXY_HOPS", "0", int,
                     "trusted reverse proxies in front (X-Forwarded-For, X-Forwarded-Proto); 0: none")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # a rating link's token never leaves in a Referer
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
HSTS = "max-age=31536000; includeSubDomains"


class HideLinkTokens(logging.Filter):
    """The web server's access log keeps the paths asked for; a rating
    link's token is a credential, so the log keeps only that there was one."""

    TOKEN = re.compile(r"(/rate/[^/\s]+/)[^\s\"?]+")

    def filter(self, record):
        message = record.getMessage()
        if "/rate/" in message:
            record.msg, record.args = self.TOKEN.sub(r"\1…", message), ()
        return True


ACCESS_LOG = logging.getLogger("nameko.web.server")  # eventlet's wsgi server logs each request here


class Web(DependencyProvider):
    """The templates, the settings, and the portal's hashing key (read once)."""

    def setup(self):
        self.templates = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                                            autoescape=True, undefined=jinja2.StrictUndefined)
        self.timeout = TIMEOUT_SECONDS()
        self.proxy_hops = PROXY_HOPS()
        self.rating_secret = config.portal_secret(self.container.config)
        self.key = None
        self.catalog = cases.Remembered(CATALOG_SECONDS())
        if not any(isinstance(f, HideLinkTokens) for f in ACCESS_LOG.filters):
            ACCESS_LOG.addFilter(HideLinkTokens())

    def get_dependency(self, worker_ctx):
        return self

    # ------------------------------------------------------------ a request
    def serve(self, request, store, services, case, *args, **kwargs):
        """Run `case(visit, *args, **kwargs)` for this request and answer."""
        if self.key is None:
            self.key = store.key()
        secure = self.secure(request)
        cookie = request.cookies.get(domain.SESSION_COOKIE)
        session_hash = domain.keyed_hash(self.key, "session", cookie) if cookie else None
        session = store.session(session_hash) if session_hash else None
        if session is not None:
            session = dict(session, data=dict(session["data"]))
        posting = request.method == "POST"
        if posting and (session is None or not domain.same_token(session["csrf_token"], request.form.get("csrf"))):
            return self.render(cases.View("expired.html", status=403, forms=False), None, secure)
        new_cookie = None
        if session is None:  # opened before the use case: request_code keeps its challenge in it
            new_cookie = domain.new_secret_token()
            session = None if not self.wants_session(request, case) else dict(
                store.open_session(domain.keyed_hash(self.key, "session", new_cookie), domain.new_secret_token(),
                                   domain.SESSION_MINUTES), data={})
        form = {k: v.strip() for k, v in request.form.items() if k not in ("csrf", "materials") and v.strip()}
        visit = cases.Visit(store=store, services=services, key=self.key, session=session,
                            address=domain.client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                                                          self.proxy_hops),
                            form=form, materials=request.form.getlist("materials"),
                            rating_secret=self.rating_secret, timeout=self.timeout, catalog=self.catalog)
        try:
            view = case(visit, *args, **kwargs)
        except cases.Unavailable:
            view = cases.View("unavailable.html", status=503, retry_after=30)
        if session is not None:
            store.keep_session(session["session_hash"], session["data"], domain.SESSION_MINUTES)
        response = self.render(view, session, secure)
        if session is not None and new_cookie and session.get("session_hash"):
            response.set_cookie(domain.SESSION_COOKIE, new_cookie, max_age=domain.SESSION_MINUTES * 60,
                                httponly=True, secure=secure, samesite="Lax", path="/")
        return response

    @staticmethod
    def wants_session(request, case):
        # a page with a form, or a step of a conversation; the guide and the lists need none
        return request.method == "POST" or case in SESSION_PAGES

    def secure(self, request):
        if request.scheme == "https":
            return True
        return self.proxy_hops > 0 and request.headers.get("X-Forwarded-Proto", "").lower() == "https"

    def render(self, view, session, secure):
        headers = dict(SECURITY_HEADERS)
        if secure:
            headers["Strict-Transport-Security"] = HSTS
        if view.retry_after:
            headers["Retry-After"] = str(view.retry_after)
        if view.redirect:
            headers["Location"] = view.redirect
            return Response("", status=303, headers=headers)
        context = dict(view.context, csrf=(session or {}).get("csrf_token", ""))
        body = self.templates.get_template(view.template).render(**context)
        return Response(body, status=view.status, content_type="text/html; charset=utf-8", headers=headers)

    def static(self, name):
        path = STATIC / name
        if path.suffix not in STATIC_TYPES or path.parent != STATIC or not path.is_file():
            return Response("not found", status=404, content_type="text/plain; charset=utf-8",
                            headers=SECURITY_HEADERS)
        return Response(path.read_bytes(), content_type=STATIC_TYPES[path.suffix],
                        headers=dict(SECURITY_HEADERS, **{"Cache-Control": "max-age=300"}))


# the GET pages that show a form (their POST checks the session's token)
SESSION_PAGES = {cases.application_form, cases.track_form, cases.code_form, cases.tracked_case, cases.rating_form,
                 cases.complaint_form, cases.ticket_form, cases.booking_form}


__all__ = ["Web", "PortalStore"]
