"""The web dialer in a real headless Chromium (Debian's), driven by Playwright."""

import json
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
    now(page, "余额请按1")
    keypad(page, "1")
    now(page, "请输入身份证号或社保卡号")
    keypad(page, "11010519491231002*")
    playwright.expect(page.locator("#typed")).to_have_text("11010519491231002*")
    keypad(page, "#")
    now(page, "请输入查询密码")
    keypad(page, "123456")
    playwright.expect(page.locator("#typed")).to_have_text("••••••")
    keypad(page, "#")
    now(page, "您的医保个人账户余额是一千二百三十四元五角六分。")
    playwright.expect(page.locator("#valid")).to_have_text("可按 Keys: 0 1 *")  # 星号键
    playwright.expect(page.locator("#timeline")).to_contain_text("••••••#")
    assert "/voice" not in page.locator("#timeline").inner_text()  # no URL of the line's
    assert "123456" not in page.locator("#timeline").inner_text()
    screenshot(page, "web-dialer.png")


def test_wrong_pin(page):
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "余额请按1")
    keypad(page, "1")
    now(page, "请输入身份证号")
    keypad(page, "11010519491231002*#")
    now(page, "请输入查询密码")
    keypad(page, "000000#")
    now(page, "号码或密码不正确。")
    alert = page.locator("#alert")
    playwright.expect(alert).to_be_visible()
    playwright.expect(alert).to_have_text("号码或密码不正确。 您还可以尝试两次。")  # and the tries
    playwright.expect(page.locator("#timeline .alerted")).to_have_count(2)


def test_hang_up(page):
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "余额请按1")
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
    now(page, "余额请按1")
    page.keyboard.press("9")
    now(page, "For your balance, press 1.")
    page.keyboard.press("4")  # a menu of its own since e702aff: ways to check, residents' pay
    now(page, "For other ways to check your account, press 1.")
    page.keyboard.press("1")
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
    now(page, "余额请按1")
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
    # Drawn means laid out: two animation frames after the node came (a loaded machine may
    # not have laid out a node appended a moment ago, and then it has no fonts yet).
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
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
        now(page, "余额请按1")
        drawn = platform_fonts(page, "#now p")
        assert any(f["isCustomFont"] and f["familyName"] == "WenQuanYi Micro Hei" for f in drawn)


def test_the_menu_keys_are_shown(page):
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "余额请按1")
    playwright.expect(page.locator("#valid")).to_have_text("可按 Keys: 0 1 2 3 4 5 9")
    playwright.expect(page.locator('.key[data-key="1"]')).to_have_class("key valid")
    playwright.expect(page.locator('.key[data-key="6"]')).to_have_class("key")
    keypad(page, "1")
    now(page, "请输入身份证号")
    playwright.expect(page.locator("#valid")).to_have_text("输入后按 # 结束 · End with #")
    playwright.expect(page.locator(".key.valid")).to_have_count(0)


def test_the_english_menu_keys_are_shown(page):
    """The English menu's keys are read from its "For …, press N." options."""
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "余额请按1")
    keypad(page, "9")
    now(page, "For payments, press 2.")
    playwright.expect(page.locator("#valid")).to_have_text("可按 Keys: 0 1 2 3 4 5 9")


def test_the_timeout_counts_down(open_page):
    page = open_page(before=lambda page: page.clock.install())
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "余额请按1")
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
    now(page, "余额请按1")
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
    now(page, "余额请按1")
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
    now(page, "余额请按1")
    announce = page.locator("#announce")
    playwright.expect(announce).to_contain_text("余额请按1")
    keypad(page, "1")
    now(page, "请输入身份证号")
    playwright.expect(announce).to_contain_text("请输入身份证号")
    assert "余额请按1" not in announce.inner_text()  # only what is new
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
    now(page, "余额请按1")
    keypad(page, "1")
    now(page, "请输入身份证号")
    keypad(page, "11010519491231002*#")
    now(page, "请输入查询密码")
    keypad(page, "000000#")
    now(page, "您还可以尝试两次")
    keypad(page, "000000#")
    playwright.expect(page.locator("#banner")).to_contain_text(
        "too many PIN entries from your address; try again in"
    )
    playwright.expect(page.locator("#typed")).to_have_text("")
    playwright.expect(page.locator("#countdown")).to_contain_text("timeout in")


# Alerts, banners and the status say what is true now (issue 21, points 16 and 17)

ALERT_RED = "rgb(138, 28, 28)"


def dial(page):
    page.get_by_role("button", name="拨打 Call").click()
    now(page, "请按1")


def to_pin(page):
    dial(page)
    keypad(page, "1")
    now(page, "请输入身份证号")
    keypad(page, "11010519491231002*#")
    now(page, "密码")


def test_a_refusal_is_red_and_a_stale_alert_goes(page):
    to_pin(page)
    alert = page.locator("#alert")
    keypad(page, "000000#")
    playwright.expect(alert).to_be_visible()
    page.keyboard.press("Escape")  # the prompt it belonged to is over
    playwright.expect(page.locator("#status")).to_contain_text("Call ended")
    playwright.expect(alert).to_be_hidden()
    to_pin(page)
    playwright.expect(alert).to_be_hidden()  # nothing of the last call
    for _ in range(2):  # with the first call's, the third wrong PIN: the account is locked
        keypad(page, "000000#")
        playwright.expect(page.locator("#typed")).to_have_text("")
    now(page, "密码错误次数过多")
    playwright.expect(alert).to_contain_text("密码错误次数过多")  # a refusal, in red
    assert alert.evaluate("e => getComputedStyle(e).color") == ALERT_RED


def json_answer(status, error, **headers):
    body = json.dumps({"error": error})
    return lambda route: route.fulfill(
        status=status, body=body, content_type="application/json", headers=headers
    )


def test_refusals_speak_both_languages_and_the_status_follows(page):
    page.route("**/dialer/api/calls", json_answer(429, "too many calls", **{"Retry-After": "7"}))
    page.get_by_role("button", name="拨打 Call").click()
    banner = page.locator("#banner")
    playwright.expect(banner).to_contain_text("请求太多，请 7 秒后再试。 too many calls")
    playwright.expect(page.locator("#status")).to_have_text("未通话 Not in a call")
    playwright.expect(page.get_by_role("button", name="拨打 Call")).to_be_enabled()
    page.unroute("**/dialer/api/calls")
    dial(page)
    page.route("**/keys", json_answer(404, "no such call (it ended or expired)"))
    keypad(page, "1")
    playwright.expect(banner).to_contain_text("这个通话已结束。 no such call")
    playwright.expect(page.locator("#status")).to_have_text("通话已结束 Call ended")
    playwright.expect(page.locator('.key[data-key="2"]')).to_be_disabled()
    playwright.expect(page.locator("#countdown")).to_have_text("")


def open_calls(app):
    return len(app.extensions["ivr.web"].calls)


def test_esc_hangs_up_while_a_request_is_pending(page, app):
    held = []
    page.route("**/dialer/api/calls", lambda route: held.append(route))  # held until let go
    page.locator("#number").focus()
    page.keyboard.press("Enter")
    playwright.expect(page.locator("#status")).to_contain_text("Dialling")
    page.wait_for_timeout(100)
    page.keyboard.press("Escape")
    playwright.expect(page.locator("#status")).to_have_text("通话已结束 Call ended")
    held[0].continue_()  # the call is placed after all, and hung up as soon as it is
    for _ in range(50):
        if open_calls(app) == 0:
            break
        page.wait_for_timeout(100)
    assert open_calls(app) == 0
    playwright.expect(page.locator("#status")).to_have_text("通话已结束 Call ended")
    page.unroute("**/dialer/api/calls")
    dial(page)
    page.route("**/keys", lambda route: held.append(route))
    keypad(page, "1")
    page.wait_for_timeout(100)
    page.keyboard.press("Escape")
    playwright.expect(page.locator("#status")).to_contain_text("Call ended")
    held[1].continue_()
    page.wait_for_timeout(300)
    playwright.expect(page.locator("#status")).to_contain_text("Call ended")
    assert "请按键" not in page.locator("#status").inner_text()
    assert open_calls(app) == 0


def test_keys_typed_in_the_number_field_go_to_the_call(page):
    dial(page)
    page.locator("#number").focus()
    page.keyboard.press("1")
    now(page, "请输入身份证号")
    playwright.expect(page.locator("#number")).to_have_value("12333")


# The timeline, the icon and the page's own defences (issue 21, point 18; issue 20, point 9)

BROKEN_WORDS = """() => {
    const broken = [];
    for (const cell of document.querySelectorAll("#timeline .what, #timeline .kind")) {
        const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (const match of node.data.matchAll(/[A-Za-z][A-Za-z'-]*/g)) {
                const range = document.createRange();
                range.setStart(node, match.index);
                range.setEnd(node, match.index + match[0].length);
                if (range.getClientRects().length > 1) broken.push(match[0]);
            }
        }
    }
    return broken;
}"""


def test_the_timeline_on_a_phone_is_what_a_caller_understands(open_page):
    page = open_page(PHONE)
    dial(page)
    keypad(page, "9")
    now(page, "For payments")
    page.get_by_role("button", name="不按键，等待 Stay silent").click()
    now(page, "Sorry")
    keypad(page, "1")
    now(page, "ID")
    page.get_by_role("button", name="不按键，等待 Stay silent").click()
    page.wait_for_timeout(300)
    timeline = page.locator("#timeline").inner_text()
    for internal in ("http", "/voice", "s=", "CA"):
        assert internal not in timeline
    assert page.evaluate(BROKEN_WORDS) == []
    screenshot(page, "web-dialer-timeline-phone.png")


def test_the_page_has_an_icon_and_breaks_no_policy_of_its_own(open_page, server):
    problems = []

    def watch(page):
        page.on("console", lambda message: problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(str(error)))

    page = open_page(before=watch)
    icon = page.locator('link[rel="icon"]').get_attribute("href")
    response = page.request.get(server + "/" + icon)
    assert response.status == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    dial(page)
    keypad(page, "1")
    now(page, "请输入身份证号")
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p]
    assert page.evaluate("document.fonts.check('16px \"IVR Hei\"', '余额')")
