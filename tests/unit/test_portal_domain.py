"""The portal's pure rules with plain values: one-time codes, signed rating
links, rate-limit windows, sessions' addresses, masking, the one form read
from a web form and its problems put back beside their inputs."""
import datetime

from onewindow import links
from services.portal import domain

KEY = b"k" * 32


def challenge(code, attempts=0, expires_at=1000.0):
    return {"code_hash": domain.keyed_hash(KEY, "code", code), "attempts": attempts, "expires_at": expires_at}


def test_a_code_is_six_digits_with_its_leading_zeros():
    assert domain.new_code(lambda n: 42) == "000042"
    assert domain.new_code(lambda n: n - 1) == "999999"


def test_a_code_opens_only_its_own_challenge_while_fresh_and_not_spent():
    stored = challenge("012345")
    assert domain.code_verdict(stored, "012345", KEY, now=999.0) == "ok"
    assert domain.code_verdict(stored, " 012 345 ", KEY, now=999.0) == "ok"  # as pasted from an SMS
    assert domain.code_verdict(stored, "012346", KEY, now=999.0) == "wrong"
    assert domain.code_verdict(stored, "12345", KEY, now=999.0) == "wrong"
    assert domain.code_verdict(stored, "012345", b"x" * 32, now=999.0) == "wrong"  # another key
    assert domain.code_verdict(stored, "012345", KEY, now=1000.0) == "expired"
    assert domain.code_verdict(challenge("012345", attempts=domain.CODE_ATTEMPTS), "012345", KEY, 1.0) == "spent"
    assert domain.code_verdict(challenge("012345", attempts=domain.CODE_ATTEMPTS - 1), "012345", KEY, 1.0) == "ok"
    assert domain.code_verdict(None, "012345", KEY, now=1.0) == "missing"
    # a number and phone that matched no case get a challenge no code opens
    assert domain.code_verdict({"code_hash": "-", "attempts": 0, "expires_at": 9.0}, "000000", KEY, 1.0) == "wrong"


def test_what_is_stored_is_a_keyed_hash_never_the_value():
    hashed = domain.keyed_hash(KEY, "session", "13800138000")
    assert "13800138000" not in hashed and len(hashed) == 43
    assert hashed != domain.keyed_hash(KEY, "code", "13800138000")  # one purpose, one hash


def test_the_rating_link_is_signed_per_case_and_checked_in_constant_shape():
    path = links.rating_path("s3cret", "ZW2026000001")
    no, token = path.split("/")[2:]
    assert no == "ZW2026000001" and len(token) == links.TOKEN_LENGTH
    assert links.valid_rating_token("s3cret", "ZW2026000001", token)
    assert not links.valid_rating_token("s3cret", "ZW2026000002", token)   # another case
    assert not links.valid_rating_token("other", "ZW2026000001", token)    # another secret
    assert not links.valid_rating_token("", "ZW2026000001", token)         # no secret, no link
    assert not links.valid_rating_token("s3cret", "ZW2026000001", token[:-1])
    assert not links.valid_rating_token("s3cret", "ZW2026000001", None)


def test_rate_limits_count_in_fixed_windows():
    limit = domain.Limit("x", hits=3, seconds=900)
    assert domain.window_start(1_000_000.5, 900) == 999_900
    assert domain.window_start(999_899.9, 900) == 999_000  # the window before
    assert domain.retry_after(1_000_000.5, 900) == 800
    assert [domain.allowed(n, limit) for n in (1, 3, 4)] == [True, True, False]
    # every form that texts or checks a code has a limit
    assert {"code_per_case", "code_per_phone", "code_per_address", "check_per_address", "apply_per_address",
            "rate_per_address", "complain_per_phone", "hall_per_phone"} <= set(domain.LIMITS)


def test_the_address_is_the_peer_unless_proxies_are_trusted():
    assert domain.client_address("10.0.0.5", "1.2.3.4", 0) == "10.0.0.5"  # a forged header counts for nothing
    assert domain.client_address("10.0.0.5", "9.9.9.9, 1.2.3.4", 1) == "1.2.3.4"
    assert domain.client_address("10.0.0.5", "1.2.3.4", 2) == "10.0.0.5"   # fewer hops than trusted
    assert domain.client_address(None, None, 0) == "unknown"


def test_phones_are_masked_and_checked():
    assert domain.masked_phone("+86 138-0013-8000") == "138****8000"
    assert domain.masked_phone("not a phone") == ""
    assert domain.phone_problem("13800138000") is None and domain.phone_problem("1380013800")
    assert domain.application_no_problem("ZW2026000001") is None
    assert domain.application_no_problem("ZW/../x") and domain.application_no_problem("")


FIELDS = [{"name": "person_name", "label": "姓名", "type": "text", "required": True},
          {"name": "seal_count", "label": "数量", "type": "integer", "required": True},
          {"name": "area", "label": "面积", "type": "amount_fen", "required": False},
          {"name": "note", "label": "备注", "type": "text", "required": False}]


def test_the_one_form_is_read_from_posted_strings():
    posted = {"applicant.kind": "person", "applicant.name": "张三", "applicant.phone": "13800138000",
              "applicant.id_number": "11010519491231002x", "form.person_name": "张三", "form.seal_count": "2",
              "form.area": "12a"}
    app = domain.application_from_form(FIELDS, "PSB-SEAL", posted, ["APP-FORM"], "ref-1")
    assert app == {"client_ref": "ref-1", "item_code": "PSB-SEAL", "channel": "online",
                   "applicant": {"kind": "person", "name": "张三", "phone": "13800138000",
                                 "id_number": "11010519491231002X"},
                   "form": {"person_name": "张三", "seal_count": 2, "area": "12a"},  # intake names "12a"
                   "materials": ["APP-FORM"]}
    empty = domain.application_from_form(FIELDS, "PSB-SEAL", {"applicant.kind": "enterprise"}, [], "ref-2")
    assert empty["form"] == {"person_name": None, "seal_count": None}  # required: intake lists them
    assert "uscc" not in empty["applicant"] and "id_number" not in empty["applicant"]


def test_every_problem_goes_beside_its_input_in_chinese_once():
    placed = domain.problems_by_input({
        "form.seal_count": ["Not a valid integer."], "applicant.id_number": ["check digit of the ID number is wrong"],
        "applicant.phone": ["must be a mainland mobile number (11 digits starting 13-19)"],
        "materials.0": ["unknown material code X for this item"], "materials.1": ["unknown material code Y for this item"],
        "client_ref": ["Missing data for required field."], "form.note": ["中文的问题"]}, domain.input_labels(FIELDS))
    assert list(placed) == ["applicant.id_number", "applicant.phone", "form.seal_count", "form.note", "materials",
                            "_general"]  # as on the page
    assert placed == {"form.seal_count": ["请填写整数"], "applicant.id_number": ["身份证号码校验位不正确，请核对"],
                      "applicant.phone": ["请填写11位手机号码"], "materials": ["不是本事项的材料"],
                      "_general": ["必填"], "form.note": ["中文的问题"]}
    assert domain.in_chinese("something new") == "请核对此项（something new）"
    assert domain.input_labels(FIELDS)["form.seal_count"] == "数量"


def test_the_guide_search_needs_every_word_somewhere_in_the_item():
    items = [{"code": "PSB-HUKOU", "name": "户口迁入", "department_names": {"PSB": "公安局"},
              "materials": [{"name": "户口簿"}]},
             {"code": "MR-FOOD", "name": "食品经营许可", "department_names": {"MR": "市场监督管理局"},
              "materials": [{"name": "营业执照"}]}]
    assert [i["code"] for i in domain.search(items, "")] == ["PSB-HUKOU", "MR-FOOD"]
    assert [i["code"] for i in domain.search(items, "公安 户口簿")] == ["PSB-HUKOU"]
    assert [i["code"] for i in domain.search(items, "mr-food")] == ["MR-FOOD"]
    assert domain.search(items, "公安 食品") == []


def test_fen_are_shown_as_yuan_and_months_are_whole():
    assert (domain.yuan(1050), domain.yuan(5), domain.yuan(0)) == ("10.50", "0.05", "0.00")
    today = datetime.date(2026, 11, 23)
    assert domain.month_period("2026-02", today) == (datetime.date(2026, 2, 1), datetime.date(2026, 2, 28))
    assert domain.month_period("2027-01", today) == (datetime.date(2026, 11, 1), datetime.date(2026, 11, 30))
    assert domain.month_period("junk", today)[0] == datetime.date(2026, 11, 1)
    assert domain.recent_months(today, 3) == ["2026-11", "2026-10", "2026-09"]
    assert domain.booking_day("x", today) == datetime.date(2026, 11, 24)


def test_make_run_gives_the_portal_and_notify_an_address_and_a_secret(monkeypatch):
    from onewindow import cli
    from services.registry import CENTRE
    monkeypatch.delenv("OW_PORTAL_URL", raising=False)
    monkeypatch.delenv("OW_PORTAL_SECRET", raising=False)
    monkeypatch.delenv("PORTAL_PORT", raising=False)
    assert CENTRE.web_url("portal") == "http://127.0.0.1:8000/"
    first, second = cli.public_web(CENTRE), cli.public_web(CENTRE)
    assert first["OW_PORTAL_URL"] == "http://127.0.0.1:8000" and len(first["OW_PORTAL_SECRET"]) >= 40
    assert first["OW_PORTAL_SECRET"] != second["OW_PORTAL_SECRET"]  # a secret per run
    monkeypatch.setenv("OW_PORTAL_URL", "https://zwfw.example.gov.cn")
    monkeypatch.setenv("OW_PORTAL_SECRET", "the operator's")
    assert cli.public_web(CENTRE) == {}  # what the operator set stands


def test_the_access_log_keeps_no_rating_token():
    import logging

    from services.portal.web import HideLinkTokens
    record = logging.LogRecord("nameko.web.server", logging.INFO, __file__, 1, '%s - - "GET %s HTTP/1.1" 200',
                               ("127.0.0.1", "/rate/ZW2026000001/AbCdEfGhIjKlMnOp"), None)
    assert HideLinkTokens().filter(record)
    assert record.getMessage() == '127.0.0.1 - - "GET /rate/ZW2026000001/… HTTP/1.1" 200'


def test_the_catalog_is_asked_for_again_only_after_its_time():
    from services.portal.cases import Remembered
    now, asked = [100.0], []
    kept = Remembered(30, clock=lambda: now[0])

    def fetch():
        asked.append(now[0])
        return len(asked)
    assert [kept.get(fetch), kept.get(fetch)] == [1, 1]
    now[0] = 129.9
    assert kept.get(fetch) == 1
    now[0] = 130.0
    assert kept.get(fetch) == 2 and asked == [100.0, 130.0]
