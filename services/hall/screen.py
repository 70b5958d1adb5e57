"""The big screen (/hall) and the remote-ticket web form, rendered as HTML.

The screen is complete without JavaScript (it reloads itself every 10 s
inside <noscript>); with it, web/hall.js fetches /hall/board.json every two
seconds and updates the page in place. No inline script or style, so the
Content-Security-Policy below forbids both.
"""
import html
import json
import logging
import pathlib
import time
import uuid

from werkzeug.wrappers import Response

from onewindow.errors import Conflict, NotFound, ValidationFailed

from . import domain

log = logging.getLogger(__name__)

WEB = pathlib.Path(__file__).resolve().parent / "web"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
STATUS_NAMES = {"waiting": "等候中", "called": "请到窗口办理", "served": "已办理", "no_show": "过号",
                "expired": "已失效"}
HTTP_STATUS = {ValidationFailed: 400, NotFound: 404, Conflict: 409}


def respond(body, status=200, content_type="text/html; charset=utf-8", cache="no-store"):
    return Response(body, status=status, content_type=content_type,
                    headers=dict(SECURITY_HEADERS, **{"Cache-Control": cache}))


class Lights:
    """Each department's red (overdue) and yellow (warned) open tasks, as
    last read from review; a department review did not answer for is shown
    as unknown rather than as green."""

    def __init__(self, departments):
        self.departments = dict(departments)
        self.counts = {}
        self.read_at = None

    def refresh(self, open_tasks):
        for code in self.departments:
            try:
                self.counts[code] = domain.department_light(open_tasks(code))
            except Exception as exc:  # review is slow or down: keep the screen up, say we do not know
                log.warning("lights: could not read %s's tasks from review: %r", code, exc)
                for rest in self.departments:
                    self.counts.setdefault(rest, None)
                self.counts[code] = None
                return
        self.read_at = time.time()

    def current(self):
        result = []
        for code, name in self.departments.items():
            light = self.counts.get(code)
            result.append({"code": code, "name": name, "known": light is not None,
                           "red": light[0] if light else 0, "yellow": light[1] if light else 0})
        return result


# ------------------------------------------------------------ pages

def _document(title, body, refresh=None, script=False):
    head = [f'<meta charset="utf-8"><title>{html.escape(title)}</title>',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<link rel="stylesheet" href="/hall/static/hall.css">',
            '<link rel="icon" href="/hall/static/favicon.svg" type="image/svg+xml">']
    if refresh:
        head.append(f'<noscript><meta http-equiv="refresh" content="{refresh}"></noscript>')
    if script:
        head.append('<script src="/hall/static/hall.js" defer></script>')
    return (f'<!doctype html><html lang="zh-CN"><head>{"".join(head)}</head>'
            f'<body class="{"screen" if script else "form"}">{body}</body></html>')


def _window_card(window):
    serving = window["now_serving"]
    return (f'<li class="window{" busy" if serving else ""}" data-window="{html.escape(window["code"])}">'
            f'<span class="window-code">{html.escape(window["code"])}号窗口</span>'
            f'<span class="ticket" data-field="now_serving">{html.escape(serving or "—")}</span></li>')


def _queue_row(queue):
    wait = queue["estimated_wait_minutes"]
    return (f'<tr data-queue="{html.escape(queue["code"])}"><th scope="row"><span class="queue-code">'
            f'{html.escape(queue["code"])}</span> {html.escape(queue["name"])}</th>'
            f'<td data-field="waiting">{queue["waiting"]}</td>'
            f'<td data-field="estimated_wait_minutes">{wait}</td></tr>')


def _light(department):
    known = department["known"]
    state = "unknown" if not known else "red" if department["red"] else "yellow" if department["yellow"] else "green"
    return (f'<li class="light {state}" data-department="{html.escape(department["code"])}">'
            f'<span class="name">{html.escape(department["name"])}</span>'
            f'<span class="count red-count" title="超期">{department["red"] if known else "—"}</span>'
            f'<span class="count yellow-count" title="预警">{department["yellow"] if known else "—"}</span></li>')


def page(board):
    body = (
        '<header><h1>政务服务中心 · 叫号大屏</h1>'
        f'<time id="clock" data-field="at" datetime="{html.escape(board["at"])}">{html.escape(board["at"][11:16])}'
        '</time></header><main>'
        '<section class="serving"><h2>正在办理 Now serving</h2><ol id="windows">'
        + "".join(_window_card(w) for w in board["windows"]) + '</ol></section>'
        '<section class="queues"><h2>排队等候 Waiting</h2><table id="queues"><thead><tr><th>队列</th>'
        '<th>等候人数</th><th>预计等候（分钟）</th></tr></thead><tbody>'
        + "".join(_queue_row(q) for q in board["queues"]) + '</tbody></table>'
        '<p class="hint">远程取号：<a href="/hall/ticket">/hall/ticket</a></p></section></main>'
        '<footer><h2>部门办件监察 超期 / 预警</h2><ul id="lights">'
        + "".join(_light(d) for d in board["departments"]) + '</ul></footer>'
    )
    return respond(_document("叫号大屏", body, refresh=10, script=True))


def board_json(board):
    return respond(json.dumps(board, ensure_ascii=False), content_type="application/json; charset=utf-8")


def static(name):
    path = WEB / name
    if path.suffix not in STATIC_TYPES or path.parent != WEB or not path.is_file():
        return respond("not found", status=404, content_type="text/plain; charset=utf-8")
    return respond(path.read_bytes(), content_type=STATIC_TYPES[path.suffix], cache="max-age=300")


def ticket_form(layout, problems=None, values=None, status=200):
    values = values or {}
    options = "".join(
        f'<option value="{html.escape(q.code)}"{" selected" if values.get("queue_code") == q.code else ""}>'
        f'{html.escape(q.code)} {html.escape(q.name)}</option>' for q in layout.queues.values())
    errors = ""
    if problems:
        errors = '<ul class="problems" role="alert">' + "".join(
            f"<li>{html.escape(field)}：{html.escape(p)}</li>" for field, ps in problems.items() for p in ps) + "</ul>"
    body = (
        '<main class="narrow"><h1>远程取号</h1>'
        '<p>取号后可不在大厅等候：前面还有3位时短信提醒您，叫号时短信通知到几号窗口。到达大厅后请在取号机签到；'
        '未签到的号码叫号两次后作废。仅当日办公时间内有效。</p>'
        f'{errors}<form method="post" action="/hall/ticket">'
        f'<input type="hidden" name="client_ref" value="{html.escape(values.get("client_ref") or uuid.uuid4().hex)}">'
        f'<label for="queue_code">办理业务</label><select id="queue_code" name="queue_code">{options}</select>'
        '<label for="phone">手机号码</label>'
        f'<input id="phone" name="phone" type="tel" inputmode="numeric" autocomplete="tel" required '
        f'value="{html.escape(values.get("phone") or "")}">'
        '<button type="submit">取号</button></form><p><a href="/hall">返回大屏</a></p></main>'
    )
    return respond(_document("远程取号", body), status=status)


def take_remote_ticket(request, take, layout):
    values = {k: request.form.get(k) for k in ("queue_code", "phone", "client_ref")}
    try:
        taken = take(dict(values, channel="remote"))
    except ValidationFailed as exc:
        return ticket_form(layout, exc.problems, values, status=400)
    except (Conflict, NotFound) as exc:
        return ticket_form(layout, {"取号": [str(exc)]}, values, status=HTTP_STATUS[type(exc)])
    body = (
        '<main class="narrow"><h1>取号成功</h1>'
        f'<p class="ticket-result">您的号码 <strong id="ticket-no">{html.escape(taken["ticket_no"])}</strong></p>'
        f'<p>前面还有 <strong id="ahead">{taken["position"] - 1}</strong> 位，预计等候 '
        f'<strong>{taken["estimated_wait_minutes"]}</strong> 分钟。我们将短信通知您。</p>'
        '<p><a href="/hall">查看叫号大屏</a></p></main>'
    )
    return respond(_document("取号成功", body), status=201)
