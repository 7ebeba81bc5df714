"""The web dialer in a real headless Chromium (Debian's), driven by Playwright."""

import os
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"{CHROMIUM} is missing: make test installs Debian's chromium when run as root",
        allow_module_level=True,
    )

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def server(app):
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(server + "/")
    yield page
    context.close()


def keypad(page, keys):
    for key in keys:
        page.locator(f'.key[data-key="{key}"]').click()


def now(page, text):
    playwright.expect(page.locator("#now")).to_contain_text(text, timeout=10000)


def test_dial_and_read_the_balance(page):
    playwright.expect(page.locator("#number")).to_have_value("12333")
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "查余额请按1")
    keypad(page, "1")
    now(page, "身份证号请按1")
    keypad(page, "1")
    now(page, "请输入身份证号")
    keypad(page, "11010519491231002*")
    playwright.expect(page.locator("#typed")).to_have_text("11010519491231002*")
    keypad(page, "#")
    now(page, "尾号零零二叉")
    keypad(page, "123456")
    playwright.expect(page.locator("#typed")).to_have_text("••••••")
    keypad(page, "#")
    now(page, "您的医保个人账户余额为一千二百三十四元五角六分。")
    playwright.expect(page.locator("#timeline")).to_contain_text("••••••#")
    assert "123456" not in page.locator("#timeline").inner_text()
    page.screenshot(path=os.environ.get("IVR_SCREENSHOT", "/tmp/web-dialer.png"))


def test_wrong_pin(page):
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "查余额请按1")
    keypad(page, "11")
    now(page, "请输入身份证号")
    keypad(page, "11010519491231002*#")
    now(page, "请输入六位密码")
    keypad(page, "000000#")
    now(page, "证件号码或密码不正确，您还可以尝试两次。")


def test_hang_up(page):
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "查余额请按1")
    page.get_by_role("button", name="挂断 Hang up").click()
    playwright.expect(page.locator("#status")).to_contain_text("通话已结束 Call ended")
    playwright.expect(page.locator('.key[data-key="1"]')).to_be_disabled()
    playwright.expect(page.get_by_role("button", name="拨打 Call")).to_be_enabled()


def test_keyboard_only(page):
    page.locator("#number").focus()
    page.keyboard.press("Enter")  # submits the dial form
    now(page, "查余额请按1")
    page.keyboard.press("9")
    now(page, "You are now using the English service.")
    page.keyboard.press("4")
    now(page, "1 2 3 9 3")
    page.keyboard.press("Escape")
    playwright.expect(page.locator("#status")).to_contain_text("Call ended")


def test_an_app_error_shows_the_twilio_code(page, app):
    app.config["IVR_DIAL_ANY_URL"] = True
    page.reload()
    page.locator("#url").fill("http://127.0.0.1:9/voice")
    page.get_by_role("button", name="拨打 Call").click()
    playwright.expect(page.locator("#banner")).to_contain_text("Twilio 错误 error 11200")
    now(page, "an application error has occurred")
