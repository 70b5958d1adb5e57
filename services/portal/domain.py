"""The portal's pure rules: one-time codes, rate-limit windows, sessions and
their CSRF tokens, the one form read from a posted web form, problems placed
next to their fields, the guide's search. No nameko, no SQL."""
import base64
import datetime
import dataclasses
import hashlib
import hmac
import re
import secrets

from onewindow import personal

# ------------------------------------------------------------ one-time codes

CODE_DIGITS = 6
CODE_VALID_MINUTES = 10
CODE_ATTEMPTS = 5  # wrong tries before a code is spent


def new_code(randbelow=secrets.randbelow):
    """Six digits, leading zeros kept: 1 in a million per guess."""
    return f"{randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def keyed_hash(key, purpose, value):
    """What the database keeps instead of a code, a phone or a session id:
    useless to whoever reads a dump without the key."""
    digest = hmac.new(key, f"{purpose}:{value}".encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def code_verdict(challenge, submitted, key, now):
    """`ok`, `wrong`, `expired` or `spent` for a code typed against a stored
    challenge ({code_hash, expires_at, attempts}); `missing` without one.
    A spent or expired code never matches, even when right."""
    if challenge is None:
        return "missing"
    if challenge["attempts"] >= CODE_ATTEMPTS:
        return "spent"
    if now >= challenge["expires_at"]:
        return "expired"
    typed = re.sub(r"\s", "", submitted or "")
    if not re.fullmatch(rf"[0-9]{{{CODE_DIGITS}}}", typed):
        return "wrong"
    return "ok" if hmac.compare_digest(keyed_hash(key, "code", typed), challenge["code_hash"]) else "wrong"


# ------------------------------------------------------------ rate limits

@dataclasses.dataclass(frozen=True)
class Limit:
    """At most `hits` in each fixed window of `seconds`, per key."""
    name: str
    hits: int
    seconds: int


# Every form that sends an SMS or checks a code, per what an abuser would vary.
LIMITS = {
    "code_per_case": Limit("code_per_case", 3, 900),        # codes asked for one application
    "code_per_phone": Limit("code_per_phone", 5, 3600),     # SMS to one phone
    "code_per_address": Limit("code_per_address", 20, 3600),
    "check_per_address": Limit("check_per_address", 30, 3600),  # codes typed (and 5 per code)
    "apply_per_address": Limit("apply_per_address", 20, 3600),  # each application texts the applicant
    "rate_per_address": Limit("rate_per_address", 30, 3600),    # signed links tried
    "complain_per_address": Limit("complain_per_address", 10, 3600),
    "complain_per_phone": Limit("complain_per_phone", 5, 86400),
    "hall_per_address": Limit("hall_per_address", 10, 3600),    # tickets and bookings text a phone
    "hall_per_phone": Limit("hall_per_phone", 5, 86400),
}


def window_start(now_epoch, seconds):
    """The fixed window an instant (seconds since the epoch) falls in."""
    return int(now_epoch // seconds) * seconds


def retry_after(now_epoch, seconds):
    """Seconds until the window of `now_epoch` ends."""
    return window_start(now_epoch, seconds) + seconds - int(now_epoch)


def allowed(hits_in_window, limit):
    """`hits_in_window` counts this try too."""
    return hits_in_window <= limit.hits


# ------------------------------------------------------------ sessions

SESSION_COOKIE = "ow_session"
SESSION_MINUTES = 30


def new_secret_token():
    return secrets.token_urlsafe(32)


def same_token(expected, given):
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(expected, given)


def client_address(remote_addr, forwarded_for, proxy_hops):
    """The applicant's address: the peer, or with `proxy_hops` trusted
    proxies in front, the address the outermost of them saw."""
    if proxy_hops > 0 and forwarded_for:
        chain = [a.strip() for a in forwarded_for.split(",") if a.strip()]
        if len(chain) >= proxy_hops:
            return chain[-proxy_hops]
    return remote_addr or "unknown"


# ------------------------------------------------------------ the one form, from a web form

APPLICANT_KINDS = {"person": "个人", "enterprise": "法人（企业）"}


def input_name(path):
    """The form input a problem path of intake belongs to: `form.x` and
    `applicant.x` are inputs; `materials.3` is the materials list."""
    head, _, rest = path.partition(".")
    if head == "materials":
        return "materials"
    if head in ("form", "applicant") and rest:
        return f"{head}.{rest.split('.')[0]}"
    return "_general"


# intake words its problems for programs, in English; an applicant reads these
IN_CHINESE = (
    ("Missing data for required field", "必填"),
    ("Field may not be null", "必填"),
    ("Shorter than minimum length", "必填"),
    ("Longer than maximum length", "内容过长"),
    ("Not a valid integer", "请填写整数"),
    ("whole number of fen", "请填写整数金额（单位：分）"),
    ("Must be greater than or equal to", "不能为负数"),
    ("Not a valid date", "请填写正确的日期"),
    ("Must be one of", "请从选项中选择"),
    ("18-character resident ID", "请填写18位居民身份证号码（17位数字加1位数字或X）"),
    ("birth date in the ID number is not a real date", "身份证号码中的出生日期不存在，请核对"),
    ("birth date in the ID number is impossible", "身份证号码中的出生日期不合理，请核对"),
    ("check digit of the ID number", "身份证号码校验位不正确，请核对"),
    ("18-character unified social credit code", "请填写18位统一社会信用代码"),
    ("check character of the unified social credit code", "统一社会信用代码校验位不正确，请核对"),
    ("a person applies with a resident ID number", "个人申请请填写身份证号码"),
    ("an enterprise applies with its unified social credit code", "企业申请请填写统一社会信用代码"),
    ("mobile", "请填写11位手机号码"),
    ("unknown material code", "不是本事项的材料"),
)


def in_chinese(problem):
    for english, chinese in IN_CHINESE:
        if english.lower() in problem.lower():
            return chinese
    return problem if not problem.isascii() else f"请核对此项（{problem}）"


def problems_by_input(problems, order=()):
    """{input name: [problem, ...]} from intake's {path: [problem, ...]},
    in Chinese, each once, in the order the inputs appear on the page."""
    placed = {}
    for path, found in (problems or {}).items():
        for problem in found:
            said = placed.setdefault(input_name(path), [])
            if in_chinese(problem) not in said:
                said.append(in_chinese(problem))
    rank = {name: i for i, name in enumerate(order)}
    return dict(sorted(placed.items(), key=lambda kv: rank.get(kv[0], len(rank))))


APPLICANT_LABELS = {"applicant.kind": "申请人类型", "applicant.name": "申请人姓名或企业名称",
                    "applicant.id_number": "身份证号码", "applicant.uscc": "统一社会信用代码",
                    "applicant.phone": "手机号码", "materials": "申请材料", "_general": "申请"}


def input_labels(fields):
    """What the problem list calls each input, in the page's order."""
    labels = {k: v for k, v in APPLICANT_LABELS.items() if k.startswith("applicant.")}
    labels.update({f"form.{f['name']}": f["label"] for f in fields})
    labels.update(materials=APPLICANT_LABELS["materials"], _general=APPLICANT_LABELS["_general"])
    return labels


def _typed(kind, raw):
    """A posted string as the field's type, or unchanged where it is not
    one (intake then names the problem beside the others)."""
    if kind in ("integer", "amount_fen") and re.fullmatch(r"-?[0-9]{1,15}", raw):
        return int(raw)
    return raw


def application_from_form(fields, item_code, posted, materials, client_ref):
    """The `submit` argument from what a browser posted: `posted` maps input
    names to stripped strings; empty optional inputs are left out."""
    applicant = {"kind": posted.get("applicant.kind") or "person",
                 "name": posted.get("applicant.name", ""),
                 "phone": posted.get("applicant.phone", "")}
    # an empty identity is left out: intake then says which one this kind needs
    identity = "uscc" if applicant["kind"] == "enterprise" else "id_number"
    if posted.get(f"applicant.{identity}"):
        applicant[identity] = posted[f"applicant.{identity}"].upper()
    form = {}
    for field in fields:
        raw = posted.get(f"form.{field['name']}", "")
        if raw == "":
            if field["required"]:
                form[field["name"]] = None  # intake names it among the missing
            continue
        form[field["name"]] = _typed(field["type"], raw)
    return {"client_ref": client_ref, "item_code": item_code, "channel": "online",
            "applicant": applicant, "form": form, "materials": list(materials)}


INPUT_TYPES = {
    "text": {"type": "text"},
    "integer": {"type": "text", "inputmode": "numeric", "pattern": "-?[0-9]*"},
    "amount_fen": {"type": "text", "inputmode": "numeric", "pattern": "[0-9]*"},
    "date": {"type": "date"},
    "phone": {"type": "tel", "inputmode": "numeric", "autocomplete": "tel", "pattern": "1[0-9]{10}"},
    "id_number": {"type": "text", "autocomplete": "off", "pattern": "[0-9]{17}[0-9Xx]"},
    "uscc": {"type": "text", "autocomplete": "off", "pattern": "[0-9A-Za-z]{18}"},
}


def input_attributes(field_type):
    """HTML attributes that let a browser check a field before it is sent
    (the server checks again, always)."""
    return INPUT_TYPES.get(field_type, {"type": "text"})


# ------------------------------------------------------------ the guide

def yuan(fen):
    return f"{int(fen) // 100}.{int(fen) % 100:02d}"


def matches(item, query):
    """Every word of `query` in the item's name, code, departments or materials."""
    words = [w for w in re.split(r"\s+", (query or "").strip().lower()) if w]
    if not words:
        return True
    text = " ".join([item["code"], item["name"], *item.get("department_names", {}).values(),
                     *(m.get("name", "") for m in item.get("materials", []))]).lower()
    return all(w in text for w in words)


def search(items, query):
    return [i for i in items if matches(i, query)]


# ------------------------------------------------------------ what the applicant sees

APPLICATION_NO = re.compile(r"^[A-Za-z0-9-]{4,40}$")


def application_no_problem(value):
    return None if APPLICATION_NO.match(value or "") else "请填写受理编号（回执或短信上的字母和数字）"


def phone_problem(value):
    return None if personal.is_mainland_mobile(value or "") else "请填写11位手机号码"


def masked_phone(value):
    return personal.mask_phone(personal.normal_phone(value) or "")


# ------------------------------------------------------------ periods and days

def month_period(month, today):
    """(first, last day) of a `YYYY-MM` month; the current month when the
    value is not one (or is in the future)."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", month or "")
    first = today.replace(day=1)
    if match and 1 <= int(match.group(2)) <= 12:
        asked = datetime.date(int(match.group(1)), int(match.group(2)), 1)
        if asked <= first:
            first = asked
    following = (first.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return first, following - datetime.timedelta(days=1)


def recent_months(today, count):
    months, first = [], today.replace(day=1)
    for _ in range(count):
        months.append(first.strftime("%Y-%m"))
        first = (first - datetime.timedelta(days=1)).replace(day=1)
    return months


def booking_days(today, count):
    """The next `count` days from tomorrow (the hall says which are working days)."""
    return [(today + datetime.timedelta(days=n)).isoformat() for n in range(1, count + 1)]


def booking_day(value, today):
    try:
        day = datetime.date.fromisoformat(value or "")
    except ValueError:
        return today + datetime.timedelta(days=1)
    return day
