"""The browser's side of the big-screen test, run in its own process (Playwright's
sync API and the test suite's eventlet do not mix): Debian's chromium opens
/hall, takes a remote ticket through the web form, prints it, waits until the
test has called it from a window, and sees the screen change without a reload.
Screenshots go to the directory given.

    python browser_walk.py BASE_URL SCREENSHOT_DIR
"""
import pathlib
import sys

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


def main(base, shots):
    shots = pathlib.Path(shots)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        screen = browser.new_page(viewport={"width": 1920, "height": 1080})
        errors = []
        screen.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        screen.goto(f"{base}/hall")
        screen.wait_for_selector("#windows")
        screen.screenshot(path=str(shots / "1-screen-before.png"))

        phone = browser.new_page(viewport={"width": 390, "height": 844})  # an applicant's phone
        phone.goto(f"{base}/hall/ticket")
        phone.select_option("#queue_code", "A")
        phone.fill("#phone", "13800138000")
        phone.click("button[type=submit]")
        ticket_no = phone.inner_text("#ticket-no")
        phone.screenshot(path=str(shots / "2-remote-ticket.png"), full_page=True)
        print(f"TICKET {ticket_no}", flush=True)

        window = sys.stdin.readline().split()[1]  # "CALLED <window>"
        serving = f'[data-window="{window}"] [data-field="now_serving"]'
        screen.wait_for_function(
            "([sel, no]) => document.querySelector(sel).textContent === no", arg=[serving, ticket_no], timeout=20000)
        screen.wait_for_selector(f'[data-window="{window}"].just-called')
        navigations = screen.evaluate("performance.getEntriesByType('navigation').length")
        screen.screenshot(path=str(shots / "3-screen-called.png"))
        waiting = screen.inner_text('[data-queue="A"] [data-field="waiting"]')
        print(f"SHOWN {screen.inner_text(serving)} waiting={waiting} navigations={navigations} "
              f"errors={len(errors)}", flush=True)
        for error in errors:
            print(f"console error: {error}", file=sys.stderr)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
