"""The web dialer in a real headless Chromium (Debian's), driven by Playwright."""

import os
import subprocess
from pathlib import Path

import pytest
from local_server import serving_in_thread

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
def app(make_app):
    """A line whose operator turned the dialer on (the test line has an auth token)."""
    return make_app(IVR_WEB_DIALER=True)


@pytest.fixture
def server(app):
    with serving_in_thread(app) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1200, "height": 900}
RED = "rgb(198, 40, 40)"  # the hang-up button


def screenshot(page, name):
    """Save a screenshot for the README when IVR_SCREENSHOTS names a folder (docs/), else /tmp."""
    folder = Path(os.environ.get("IVR_SCREENSHOTS", "/tmp"))
    page.evaluate("document.fonts.ready.then(() => true)")
    page.wait_for_timeout(200)  # one more frame, so text drawn before the font came is redrawn
    page.screenshot(path=str(folder / name))


@pytest.fixture
def open_page(browser, server):
    contexts = []

    def open_(viewport=DESKTOP, before=None):
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        page = context.new_page()
        if before:
            before(page)
        page.goto(server + "/")
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page):
    return open_page()


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
    now(page, "请输入身份证号或社保卡号")
    keypad(page, "11010519491231002*")
    playwright.expect(page.locator("#typed")).to_have_text("11010519491231002*")
    keypad(page, "#")
    now(page, "尾号零零二叉")
    keypad(page, "123456")
    playwright.expect(page.locator("#typed")).to_have_text("••••••")
    keypad(page, "#")
    now(page, "您的医保个人账户余额为一千二百三十四元五角六分。")
    playwright.expect(page.locator("#valid")).to_have_text("可按 Keys: 0 1 *")  # 星号键
    playwright.expect(page.locator("#timeline")).to_contain_text("••••••#")
    assert "/voice" not in page.locator("#timeline").inner_text()  # no URL of the line's
    assert "123456" not in page.locator("#timeline").inner_text()
    screenshot(page, "web-dialer.png")


def test_wrong_pin(page):
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "查余额请按1")
    keypad(page, "1")
    now(page, "请输入身份证号")
    keypad(page, "11010519491231002*#")
    now(page, "请输入六位密码")
    keypad(page, "000000#")
    now(page, "证件号码或密码不正确，您还可以尝试两次。")
    alert = page.locator("#alert")
    playwright.expect(alert).to_be_visible()
    playwright.expect(alert).to_have_text("证件号码或密码不正确，您还可以尝试两次。")
    playwright.expect(page.locator("#timeline .alerted")).to_have_count(1)


def test_hang_up(page):
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "查余额请按1")
    page.get_by_role("button", name="挂断 Hang up").click()
    playwright.expect(page.locator("#status")).to_contain_text("通话已结束 Call ended")
    playwright.expect(page.locator('.key[data-key="1"]')).to_be_disabled()
    playwright.expect(page.get_by_role("button", name="拨打 Call")).to_be_enabled()
    playwright.expect(page.get_by_role("button", name="拨打 Call")).to_be_focused()
    ended = page.locator("#timeline li.ev-hangup")
    playwright.expect(ended).to_have_count(1)
    assert ended.evaluate("e => getComputedStyle(e).backgroundColor") != RED
    assert ended.evaluate("e => getComputedStyle(e).color") != "rgb(255, 255, 255)"
    hang_up = page.locator("#hangup")
    assert hang_up.evaluate("e => getComputedStyle(e).backgroundColor") == RED


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


def in_view(page, locator):
    playwright.expect(locator).to_be_in_viewport(ratio=1)


def test_a_phone_sized_screen_shows_the_whole_phone(open_page):
    page = open_page(PHONE)
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "查余额请按1")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways: {width} px wide"
    for key in "123456789*0#":
        in_view(page, page.locator(f'.key[data-key="{key}"]'))
    in_view(page, page.locator("#hangup"))
    in_view(page, page.locator("#now"))
    screenshot(page, "web-dialer-phone.png")


def test_errors_stay_in_sight_on_a_phone(open_page, app):
    app.config["IVR_DIAL_ANY_URL"] = True
    page = open_page(PHONE)
    page.locator("#url").fill("http://127.0.0.1:9/voice")
    page.get_by_role("button", name="拨打 Call").click()
    playwright.expect(page.locator("#banner")).to_contain_text("11200")
    page.mouse.wheel(0, 3000)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert page.evaluate("window.scrollY") > 0
    in_view(page, page.locator("#banner"))


def machine_has_cjk_font():
    try:
        found = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(found.stdout.strip())


def platform_fonts(page, selector):
    """The fonts Chromium drew a node's text with (DevTools' "Rendered Fonts")."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    return cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]


def test_chinese_renders_in_the_served_font(page):
    faces = page.evaluate(
        """async () => {
            await document.fonts.load('20px "IVR Hei"', '余额');
            return [...document.fonts].filter(f => f.family.includes("IVR Hei")).map(f => f.status);
        }"""
    )
    assert faces == ["loaded"]
    width = page.evaluate(
        """() => {
            const context = document.createElement("canvas").getContext("2d");
            context.font = '40px "IVR Hei"';
            return context.measureText("余").width;
        }"""
    )
    assert width > 30  # a full-width glyph, not an empty box
    page.evaluate(
        """() => {
            const probe = document.createElement("span");
            probe.id = "probe";
            probe.style.fontFamily = '"IVR Hei"';
            probe.textContent = "余额请按";
            document.body.append(probe);
        }"""
    )
    fonts = platform_fonts(page, "#probe")
    assert {"familyName": "WenQuanYi Micro Hei", "isCustomFont": True, "glyphCount": 4} in [
        {k: f[k] for k in ("familyName", "isCustomFont", "glyphCount")} for f in fonts
    ]
    if not machine_has_cjk_font():  # then the page's own text must be drawn in it
        page.get_by_role("button", name="拨打 Call").click()
        now(page, "查余额请按1")
        drawn = platform_fonts(page, "#now p")
        assert any(f["isCustomFont"] and f["familyName"] == "WenQuanYi Micro Hei" for f in drawn)


def test_the_menu_keys_are_shown(page):
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "查余额请按1")
    playwright.expect(page.locator("#valid")).to_have_text("可按 Keys: 0 1 2 3 4 5 9")
    playwright.expect(page.locator('.key[data-key="1"]')).to_have_class("key valid")
    playwright.expect(page.locator('.key[data-key="6"]')).to_have_class("key")
    keypad(page, "1")
    now(page, "请输入身份证号")
    playwright.expect(page.locator("#valid")).to_have_text("输入后按 # 结束 · End with #")
    playwright.expect(page.locator(".key.valid")).to_have_count(0)


def test_the_english_menu_keys_are_shown(page):
    """The English menu names its keys after the first as "Payment records, 2."."""
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "查余额请按1")
    keypad(page, "9")
    now(page, "Payment records, 2.")
    playwright.expect(page.locator("#valid")).to_have_text("可按 Keys: 0 1 2 3 4 5 9")


def test_the_timeout_counts_down(open_page):
    page = open_page(before=lambda page: page.clock.install())
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "查余额请按1")
    countdown = page.locator("#countdown")
    playwright.expect(countdown).to_contain_text("timeout in")
    # From here the page's clock moves only when told: on a busy machine, real seconds
    # passing between two readings would change the count. (A second on, so the pause is
    # surely ahead of the page's time; pausing shows the count at that moment.)
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 1)  # in seconds
    first = int(countdown.inner_text().split("timeout in ")[1].split()[0])
    assert first > 5  # the prompt's length, then the Gather's 5 s
    page.clock.run_for(3000)
    playwright.expect(countdown).to_contain_text(f"timeout in {first - 3} s")
    page.clock.run_for((first - 3) * 1000 + 500)
    now(page, "对不起，没有收到您的按键。")


def test_a_lost_server_shows_a_retry(page):
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "查余额请按1")
    page.route("**/dialer/api/**", lambda route: route.abort())
    keypad(page, "1")
    offline = page.locator("#offline")
    playwright.expect(offline).to_be_visible()
    playwright.expect(offline).to_contain_text("Lost the server")
    playwright.expect(page.locator('.key[data-key="2"]')).to_be_enabled()  # not a dead page
    page.unroute("**/dialer/api/**")
    page.get_by_role("button", name="重试 Retry").click()
    now(page, "请输入身份证号或社保卡号")
    playwright.expect(offline).to_be_hidden()


def test_focus_after_dial_and_hang_up(page):
    page.locator("#number").focus()
    page.keyboard.press("Enter")
    now(page, "查余额")
    playwright.expect(page.locator("#screen")).to_be_focused()
    page.keyboard.press("1")
    now(page, "请输入身份证号或社保卡号")
    page.locator('.key[data-key="1"]').click()
    playwright.expect(page.locator("#typed")).to_have_text("1")
    events = page.locator("#timeline li").count()
    page.keyboard.press("Enter")  # the clicked key did not keep the focus: nothing is pressed
    page.wait_for_timeout(300)
    assert page.locator("#timeline li").count() == events
    playwright.expect(page.locator("#typed")).to_have_text("1")
    page.locator("#hangup").click()
    playwright.expect(page.locator("#call")).to_be_focused()


def test_the_live_region_announces_only_new_prompts(page):
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "查余额")
    announce = page.locator("#announce")
    playwright.expect(announce).to_contain_text("查余额请按1")
    keypad(page, "1")
    now(page, "请输入身份证号")
    playwright.expect(announce).to_contain_text("请输入身份证号")
    assert "查余额" not in announce.inner_text()  # only what is new
    page.evaluate(
        """() => {
            window.mutations = 0;
            new MutationObserver(() => window.mutations++).observe(
                document.getElementById("announce"), {childList: true, characterData: true, subtree: true});
        }"""
    )
    keypad(page, "1101")
    playwright.expect(page.locator("#typed")).to_have_text("1101")
    assert page.evaluate("window.mutations") == 0


def test_over_the_budget_the_page_says_so(page, app):
    from ivr.web import Limits

    app.config["IVR_WEB_PINS_PER_MINUTE"] = 1
    app.extensions["ivr.web.limits"] = Limits(app.config)
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "查余额")
    keypad(page, "1")
    now(page, "请输入身份证号")
    keypad(page, "11010519491231002*#")
    now(page, "请输入六位密码")
    keypad(page, "000000#")
    now(page, "您还可以尝试两次")
    keypad(page, "000000#")
    playwright.expect(page.locator("#banner")).to_contain_text(
        "too many PIN entries from your address; try again in"
    )
    playwright.expect(page.locator("#typed")).to_have_text("")
    playwright.expect(page.locator("#countdown")).to_contain_text("timeout in")
