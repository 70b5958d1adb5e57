"""The portal over plain HTTP, as a browser without JavaScript sends it:
security headers, CSRF, every problem of the one form at once, the one-time
list of missing materials, tracking codes with their limits, and the signed
rating link."""
import uuid

from .conftest import SECRET, rating_path, sms_code, sms_codes

GOOD_ID = "11010519491231002X"


def apply(browser, phone, materials=("APP-FORM", "HUKOU-BOOK", "MOVE-CERT"), **changes):
    browser.get("/apply/PSB-HUKOU")
    form = {"applicant.kind": "person", "applicant.name": "李四", "applicant.id_number": GOOD_ID,
            "applicant.phone": phone, "form.person_name": "李四", "form.person_id_number": GOOD_ID,
            "form.residence_address": "某路2号"}
    form.update(changes)
    return browser.post("/apply/PSB-HUKOU", [*form.items(), *(("materials", m) for m in materials)])


def new_phone():
    return f"137{uuid.uuid4().int % 10 ** 8:08d}"


def test_every_answer_carries_the_security_headers_and_forms_need_their_token(browser, portal):
    page = browser.get("/guide?q=公安")
    assert page.status_code == 200 and "户口迁入" in page.text and "食品经营许可" not in page.text
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in page.headers  # plain HTTP, and no trusted proxy says otherwise
    assert "Strict-Transport-Security" not in browser.get("/", headers={"X-Forwarded-Proto": "https"}).headers
    assert "ow_session" not in page.cookies  # reading the guide opens no session
    # a form without its session's token is refused, and nothing is sent
    opened = browser.get("/track")
    cookie = opened.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    forged = browser.http.post(portal + "/track", data={"csrf": "forged", "application_no": "ZW2026000001",
                                                        "phone": "13800138000"}, timeout=30)
    assert forged.status_code == 403 and "页面已过期" in forged.text
    stranger = __import__("requests").post(portal + "/track", data={"csrf": browser.csrf}, timeout=30)
    assert stranger.status_code == 403  # another browser's token is no token


def test_the_one_form_lists_every_problem_beside_its_field_then_names_what_is_missing(browser, rpc):
    phone = new_phone()
    wrong = apply(browser, "1234", **{"applicant.id_number": "110105194912310021", "form.person_name": ""})
    assert wrong.status_code == 400
    for field, problem in (("applicant-id_number", "校验位不正确"), ("applicant-phone", "11位手机号码"),
                           ("form-person_name", "必填")):
        assert f'id="f-{field}-error">' in wrong.text and problem in wrong.text, field
    assert "请修改以下3处问题" in wrong.text
    assert 'value="某路2号"' in wrong.text  # what was typed stays
    # complete but for one material: numbered, and told once what to bring
    short = apply(browser, phone, materials=("APP-FORM", "HUKOU-BOOK"))
    assert short.status_code == 200 and "需补正材料" in short.text
    missing = short.text.split('<ol id="missing">')[1].split("</ol>")[0]
    assert missing.count("<li>") == 1
    no = short.text.split('id="application-no">')[1].split("<")[0]
    assert rpc.intake.get(no)["status"] == "needs_materials"


def test_a_case_is_tracked_with_a_code_by_sms_limited_in_tries(browser, rpc, wait):
    phone = new_phone()
    accepted = apply(browser, phone)
    no = accepted.text.split('id="application-no">')[1].split("<")[0]
    browser.get("/track")
    sent = browser.post("/track", {"application_no": no, "phone": phone}, allow_redirects=False)
    assert sent.status_code == 303 and sent.headers["Location"] == "/track/code"
    assert phone not in sent.headers["Location"] and no not in sent.headers["Location"]
    code = sms_code(rpc, phone, wait)
    page = browser.get("/track/code")
    assert phone[-4:] in page.text and phone not in page.text  # masked
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    for _ in range(5):
        assert browser.post("/track/code", {"code": wrong}).status_code == 400
    spent = browser.post("/track/code", {"code": code})
    assert spent.status_code == 400 and "错误次数过多" in spent.text  # five wrong tries spend the code
    # a new code; the third for one case within 15 minutes is the last
    browser.get("/track")
    browser.post("/track", {"application_no": no, "phone": phone})
    browser.get("/track")
    browser.post("/track", {"application_no": no, "phone": phone})
    second = sms_code(rpc, phone, wait, count=3)
    browser.get("/track/code")
    case = browser.post("/track/code", {"code": second})
    assert case.status_code == 200 and no in case.text and "李*" in case.text and GOOD_ID not in case.text
    browser.get("/track")
    limited = browser.post("/track", {"application_no": no, "phone": phone})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    # a number and phone that match no case text nothing, and say the same as a pair that does
    browser.get("/track")
    other = new_phone()
    unknown = browser.post("/track", {"application_no": "ZW2026999999", "phone": other})
    assert unknown.status_code == 200 and "如受理编号与手机号码一致，验证码已发送" in unknown.text
    assert sms_codes(rpc, other) == [] and len(sms_codes(rpc, phone)) == 3


def test_only_the_signed_link_rates_and_only_a_concluded_case(browser):
    phone = new_phone()
    accepted = apply(browser, phone)
    no = accepted.text.split('id="application-no">')[1].split("<")[0]
    assert browser.get(f"/rate/{no}/AAAAAAAAAAAAAAAA").status_code == 404
    assert browser.get(rating_path("ZW2026999999")).status_code == 200  # signed: the page opens
    page = browser.get(rating_path(no))
    assert page.status_code == 200 and SECRET not in page.text
    early = browser.post(rating_path(no), {"score": "5"})
    assert early.status_code == 409 and "尚未办结" in early.text
    missing = browser.post(rating_path(no), {"comment": "好"})
    assert missing.status_code == 400 and "请选择评分" in missing.text


def test_complaints_tickets_appointments_and_publicity(browser, rpc):
    phone = new_phone()
    browser.get("/complain")
    bad = browser.post("/complain", {"text": "慢", "phone": "1"})
    assert bad.status_code == 400 and "5到2000字" in bad.text and "11位手机号码" in bad.text
    browser.get("/complain")
    made = browser.post("/complain", {"text": "窗口排队一个小时无人办理", "phone": phone})
    assert made.status_code == 200 and 'id="complaint-no"' in made.text
    browser.get("/ticket")
    ticket = browser.post("/ticket", {"queue_code": "A", "phone": phone})
    assert ticket.status_code == 200 and "前面还有" in ticket.text and "/ticket/" in ticket.url
    assert rpc.hall.ticket(ticket.url.rsplit("/", 1)[1])["channel"] == "remote"
    slots = browser.get("/book?item=PSB-HUKOU")
    assert slots.status_code == 200
    if 'name="slot"' in slots.text:  # tomorrow may be a rest day
        slot = slots.text.split('name="slot" value="')[1].split('"')[0]
        booked = browser.post("/book", {"item_code": "PSB-HUKOU", "date": slots.text.split(
            'name="date" value="')[1].split('"')[0], "slot": slot, "phone": phone})
        assert booked.status_code == 200 and 'id="appointment-no"' in booked.text
    assert browser.get("/publicity").status_code == 200


def test_missing_materials_are_supplied_online_from_the_tracked_case(browser, rpc, wait):
    phone = new_phone()
    short = apply(browser, phone, materials=("APP-FORM", "HUKOU-BOOK"))
    no = short.text.split('id="application-no">')[1].split("<")[0]
    browser.get("/track")
    browser.post("/track", {"application_no": no, "phone": phone})
    browser.get("/track/code")
    case = browser.post("/track/code", {"code": sms_code(rpc, phone, wait)})
    assert "网上补正" in case.text and 'value="MOVE-CERT"' in case.text
    browser.get("/track/case")  # the form's hidden inputs
    nothing = browser.post("/track/supplement", {})
    assert nothing.status_code == 400 and "请勾选您补交的材料" in nothing.text
    browser.get("/track/case")
    done = browser.post("/track/supplement", {"materials": "MOVE-CERT"})
    assert done.status_code == 200 and "网上补正" not in done.text
    assert rpc.intake.get(no)["status"] in ("accepted", "in_review")
    hall = browser.get("/hall")
    assert hall.status_code == 200 and 'data-queue="A"' in hall.text and 'http-equiv="refresh"' in hall.text
