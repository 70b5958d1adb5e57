"""The browser's side of the portal test, in its own process (Playwright's sync
API and the suite's eventlet do not mix). Debian's chromium, with JavaScript
switched off as some applicants have it, on a phone: finds an item in the
guide, applies with one mistake, corrects it, is accepted; tracks the case
with the code the test reads from the SMS; rates it from the SMS link. At
phone and desktop widths it saves screenshots; axe-core, injected in a
second context with JavaScript on and the same cookies, checks the pages.

    python browser_walk.py BASE_URL SCREENSHOT_DIR AXE_JS PHONE

Lines out: APPLIED <no>, CODE?, CASE <status>, RATED, AXE <page> <n> <ids>,
DONE errors=<n>; lines in: CODE <code>, RATE <path>.
"""
import json
import pathlib
import sys

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
PHONE_SIZE = {"width": 390, "height": 844}
DESKTOP_SIZE = {"width": 1280, "height": 900}
SERIOUS = ("serious", "critical")


def say(line):
    print(line, flush=True)


def main(base, shots, axe_js, phone_no):
    shots = pathlib.Path(shots)
    axe_source = pathlib.Path(axe_js).read_text()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport=PHONE_SIZE, java_script_enabled=False, locale="zh-CN")
        page = context.new_page()
        errors = []
        # a form sent back with its problems answers 400, by design; anything else is an error
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 400" not in m.text
                else None)

        def shot(name, full=True):
            page.screenshot(path=str(shots / name), full_page=full)

        def axe(name):
            """axe-core on the page the applicant sees now (same cookies)."""
            # the CSP forbids every script, as it should: the checker alone may run axe
            checker = browser.new_context(viewport=DESKTOP_SIZE, storage_state=context.storage_state(), bypass_csp=True)
            check = checker.new_page()
            check.goto(page.url)
            check.set_content(page.content())  # exactly what the applicant sees, a POST's answer too
            check.add_script_tag(content=axe_source)
            result = check.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
            bad = [v for v in result["violations"] if v["impact"] in SERIOUS]
            say(f"AXE {name} {len(bad)} {','.join(v['id'] for v in bad) or '-'}")
            for v in bad:
                print(json.dumps({"id": v["id"], "nodes": [n["html"] for n in v["nodes"]][:3]}, ensure_ascii=False),
                      file=sys.stderr)
            checker.close()

        # 办事指南: find the item by searching, as an applicant would
        page.goto(base + "/")
        axe("home")
        page.fill("#q", "户口")
        page.click("form[role=search] button")
        page.click("text=户口迁入")
        page.wait_for_selector("h1:has-text('户口迁入')")
        shot("1-guide-item-phone.png")
        page.set_viewport_size(DESKTOP_SIZE)
        shot("1-guide-item-desktop.png")
        page.set_viewport_size(PHONE_SIZE)
        axe("item")

        # 网上申报 with one mistake: the ID number's check digit
        page.click("text=网上申报")
        page.fill("#f-applicant-name", "张三")
        page.fill("#f-applicant-id_number", "110105194912310021")
        page.fill("#f-applicant-phone", phone_no)
        page.fill("#f-form-person_name", "张三")
        page.fill("#f-form-person_id_number", "11010519491231002X")
        page.fill("#f-form-residence_address", "某市某区某路1号")
        for box in page.query_selector_all("input[name=materials]"):
            box.check()
        page.click("form button[type=submit]")
        page.wait_for_selector(".summary")
        problems = page.inner_text(".summary")
        assert "身份证号码" in problems and "校验位" in problems, problems
        assert page.get_attribute("#f-applicant-id_number", "aria-invalid") == "true"
        assert page.input_value("#f-form-residence_address") == "某市某区某路1号"  # nothing typed is lost
        shot("2-one-mistake-phone.png")
        axe("mistake")
        page.fill("#f-applicant-id_number", "11010519491231002X")
        page.click("form button[type=submit]")
        page.wait_for_selector("#application-no")
        application_no = page.inner_text("#application-no")
        shot("3-accepted-phone.png")
        say(f"APPLIED {application_no}")

        # 办件查询: number + phone, then the code from the SMS
        page.goto(base + "/track")
        page.fill("#f-application_no", application_no)
        page.fill("#f-phone", phone_no)
        page.click("form button[type=submit]")
        page.wait_for_selector("#f-code")
        say("CODE?")
        code = sys.stdin.readline().split()[1]
        page.fill("#f-code", code)
        page.click("form button[type=submit]")
        page.wait_for_selector("#case-status")
        assert page.inner_text("#case-no") == application_no
        assert phone_no not in page.content() and "11010519491231002X" not in page.content()
        shot("4-case-phone.png")
        page.set_viewport_size(DESKTOP_SIZE)
        shot("4-case-desktop.png")
        page.set_viewport_size(PHONE_SIZE)
        axe("case")
        say(f"CASE {page.inner_text('#case-status')}")

        # 服务评价 from the link in the SMS
        path = sys.stdin.readline().split()[1]
        page.goto(base + path)
        axe("rate")
        page.check("input[name=score][value='5']")
        page.fill("#f-comment", "窗口热情，一次办好")
        page.click("form button[type=submit]")
        page.wait_for_selector("#rated")
        shot("5-rated-phone.png")
        say("RATED")
        for error in errors:
            print(f"console error: {error}", file=sys.stderr)
        say(f"DONE errors={len(errors)}")
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
