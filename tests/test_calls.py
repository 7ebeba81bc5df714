"""Whole calls to the hotline through the softphone: what a caller hears, in both languages."""

import pytest
from softphone.phone import Phone

from tests.conftest import TOKEN

BEIJING_ID = "11010519491231002*"  # ends in X, keyed as *
SHANGHAI_ID = "310101194903010318"
SHENZHEN_ID = "440305199002200139"
RESIDENT_ID = "650102198707040387"
URUMQI_RETIREE_ID = "650102195809120210"
UNKNOWN_ID = "110105196001010287"  # valid checksum, no account
BAD_CHECKSUM_ID = "110105194912310021"


def identify(phone, number, pin):
    """Key an ID or a card number (one entry takes either), then the PIN."""
    return phone.enter(number + "#").enter(pin + "#")


def test_welcome_and_main_menu(phone):
    phone.dial(to="0991-12333")
    assert "欢迎致电乌鲁木齐市幺二三三三" in phone.heard
    assert (
        "余额请按1，缴费记录请按2，账户划入请按3，渠道和居民缴费请按4，密码和挂失请按5，人工服务请按0。"
        in phone.heard
    )
    gather = phone.last("gather")
    assert gather.data["action"].startswith("http://localhost/voice/node/main?s=")


@pytest.mark.parametrize(
    ("dialled", "region"),
    (("010-12333", "北京市"), ("+86 21 12333", "上海市"), ("12333", "乌鲁木齐市")),
)
def test_dialled_number_picks_the_line(phone, dialled, region):
    assert f"欢迎致电{region}" in phone.dial(to=dialled).heard


def test_balance_by_id_number_in_mandarin(phone):
    phone.dial().press("1")
    assert "请输入身份证号或社保卡号，按井号键结束，X请按星号键。" in phone.heard
    phone.enter(BEIJING_ID + "#")
    assert "请输入查询密码，按井号键结束。" in phone.heard
    phone.enter("123456#")
    assert (
        "截至二〇二六年十一月十八日，\n您的医保个人账户余额是一千二百三十四元五角六分。"
        in phone.heard
    )
    assert "再听一遍请按1" in phone.heard


def test_balance_in_english(phone):
    phone.dial().press("9")
    # No "now in English" first: the offer to go back, in Mandarin's voice, then the menu.
    assert phone.heard.startswith("普通话请按9。\nFor your balance, press 1.")
    phone.press("1")
    assert "Enter your ID or card number, then press hash." in phone.heard
    phone.enter(BEIJING_ID + "#")
    assert "Enter your query PIN, then press hash." in phone.heard
    phone.enter("123456#")
    assert (
        "As of November eighteenth, twenty twenty-six,\nYour medical insurance personal account"
        " balance is 1,234 yuan and 56 fen." in phone.heard
    )


def test_english_and_back_to_mandarin(phone):
    phone.dial().press("9").press("9")
    assert phone.heard.startswith("For English, press 9.\n余额请按1")


def test_balance_by_card_number(phone):
    phone.dial().press("1")
    assert "社保卡号" in phone.heard
    phone.enter("440300003#")
    assert "请输入查询密码" in phone.heard
    phone.enter("246810#")
    assert "余额是三千二百八十七元四角。" in phone.heard


def test_caller_stays_identified(phone):
    identify(phone.dial().press("1"), SHENZHEN_ID, "246810")
    phone.press("*").press("2")
    assert "您最近的缴费记录如下" in phone.heard
    assert "请输入" not in phone.heard
    phone.press("*").press("1")
    assert "余额是三千二百八十七元四角。" in phone.heard


def test_history_pages_newest_first(phone):
    identify(phone.dial().press("2"), SHENZHEN_ID, "246810")
    first = phone.heard
    assert "二〇二六年十月，个人缴费一百六十二元五角，未到账。" in first
    assert "二〇二六年九月，个人缴费一百六十元，已到账。" in first
    assert "二〇二六年八月，个人缴费一百六十元，欠缴。" in first
    assert first.index("十月") < first.index("九月") < first.index("八月")
    assert "七月" not in first
    phone.press("2")
    assert "更早的缴费记录如下" in phone.heard
    assert "二〇二六年七月" in phone.heard
    assert "二〇二六年五月" in phone.heard
    assert "没有更多记录了" not in phone.heard
    phone.press("2")
    assert "二〇二六年四月，个人缴费一百五十元，已到账。" in phone.heard
    assert "没有更多记录了。" in phone.heard
    phone.press("2")
    assert "没有更多记录了。" in phone.heard
    phone.press("1")
    assert "二〇二六年四月" in phone.heard


def test_history_in_english(phone):
    identify(phone.dial().press("9").press("2"), SHENZHEN_ID, "246810")
    assert (
        "October twenty twenty-six: your own share, 162 yuan and 50 fen, not yet received."
        in phone.heard
    )
    assert "August twenty twenty-six: your own share, 160 yuan, overdue." in phone.heard


def test_a_retiree_hears_why_there_are_no_payments(phone):
    identify(phone.dial().press("2"), URUMQI_RETIREE_ID, "888888")
    assert "您已办理退休，退休后不再缴纳职工医保费，因此没有缴费记录。" in phone.heard
    assert "没有查询到您的缴费记录" not in phone.heard


def test_a_resident_hears_the_insured_year_paid_for(phone):
    identify(phone.dial().press("2"), RESIDENT_ID, "135790")
    assert "二〇二六年度居民医保，个人缴费四百元，二〇二五年十月缴纳，已到账。" in phone.heard
    phone.press("*").press("9").press("2")
    assert (
        "Residents' insurance for twenty twenty-six: your payment of 400 yuan,"
        " made in October twenty twenty-five, received." in phone.heard
    )


@pytest.mark.parametrize(
    ("id_number", "pin", "credit", "rule"),
    (
        (
            BEIJING_ID, "123456", "二〇二六年十月，划入金额一百一十元",
            "北京市退休人员的个人账户由统筹基金按月定额划入，每月一百元，年满七十周岁后每月一百一十元。",
        ),
        (
            SHANGHAI_ID, "654321", "二〇二六年一月，划入金额一千八百九十元",
            "上海市退休人员的个人账户在每个医保年度开始时一次性划入，每年一千六百八十元，年满七十五周岁后每年一千八百九十元。",
        ),
        (
            SHENZHEN_ID, "246810", "二〇二六年九月，划入金额一百六十元",
            "在职职工本人缴纳的医保费计入个人账户，原则上不超过本人缴费基数的百分之二。",
        ),
        (
            URUMQI_RETIREE_ID, "888888", "暂未查询到您的个人账户划入记录",
            "乌鲁木齐市退休人员的个人账户由统筹基金按月定额划入，标准按门诊共济改革那一年本地区基本养老金平均水平的百分之二左右确定，具体金额由当地医保部门公布。",
        ),
    ),
)  # fmt: skip
def test_monthly_credit_and_rule(phone, id_number, pin, credit, rule):
    identify(phone.dial().press("3"), id_number, pin)
    assert credit in phone.heard
    assert rule in phone.heard


def test_monthly_credit_in_english(phone):
    identify(phone.dial().press("9").press("3"), BEIJING_ID, "123456")
    assert (
        "The latest credit to your personal account was for October twenty twenty-six: 110 yuan."
        in phone.heard
    )
    assert (
        "In Beijing, retirees' accounts receive a fixed sum of 100 yuan a month from the pooled fund, or 110 yuan a month from age 70."
        in phone.heard
    )


def test_resident_has_no_personal_account(phone):
    identify(phone.dial().press("1"), RESIDENT_ID, "135790")
    assert "城乡居民基本医疗保险，该险种不设个人账户" in phone.heard
    assert "零元" not in phone.heard
    phone.press("*").press("3")
    assert "不设个人账户，没有每月划入" in phone.heard


def test_option_four_is_a_short_menu_of_channels_and_residents_payment(phone):
    phone.dial().press("4")
    assert phone.heard == "查询渠道请按1，居民医保缴费请按2，返回主菜单请按星号键，人工服务请按0。"
    phone.press("1")
    assert "拨打医保服务热线幺二三九三" in phone.heard
    assert "缴费" not in phone.heard  # the residents' payment is its own answer
    phone.press("*").press("2")
    # 2026-11-18: the collection under way is for 二〇二七年度.
    assert (
        "二〇二七年度城乡居民医保集中缴费期一般是二〇二六年九月到十二月，个人缴费标准大约是每人每年四百元"
        in phone.heard
    )
    assert "集中缴费期以外参保的，一般有三个月待遇等待期。" in phone.heard
    phone.press("*").press("*").press("9").press("4").press("2")
    assert (
        "Residents' insurance for twenty twenty-seven is usually paid from September to December twenty twenty-six."
        in phone.heard
    )
    assert "a three-month wait" in phone.heard


@pytest.mark.parametrize(
    ("advance", "year"),
    (
        (dict(days=-80), "二〇二六年度"),
        (dict(days=-78), "二〇二七年度"),
        (dict(days=300), "二〇二八年度"),
    ),
)
def test_the_insured_year_follows_the_clock(phone, clock, advance, year):
    """From September the collection is for next year: 08-30 says 2026, 09-01 says 2027."""
    clock.advance(**advance)
    phone.dial().press("4").press("2")
    assert phone.heard.startswith(year)


def test_answer_repeats_and_returns(phone):
    identify(phone.dial().press("1"), BEIJING_ID, "123456")
    phone.press("1")
    assert "余额是一千二百三十四元五角六分" in phone.heard
    phone.press("*")
    assert "余额请按1" in phone.heard


def test_star_repeats_main_menu(phone):
    phone.dial().press("*")
    assert "余额请按1" in phone.heard
    assert "欢迎" not in phone.heard


def test_star_goes_back_one_level(phone):
    phone.dial().press("1").enter(BEIJING_ID + "#").enter("*#")
    assert "请输入身份证号或社保卡号" in phone.heard
    phone.enter("*#")
    assert "余额请按1" in phone.heard


def test_agent_in_office_hours(phone):
    phone.dial().press("0")
    assert "正在为您转接人工服务，请稍候。" in phone.heard
    assert phone.last("transfer").data["queue"] == "12333-agents"


@pytest.mark.parametrize(
    ("keys", "queued", "on_hold"),
    (
        ((), "正在为您转接人工服务，请稍候。", "坐席正忙，您是下一位，请稍候。"),
        (
            ("9",),
            "Connecting you to an agent. Please hold.",
            "All our agents are busy. You are next in line. Please hold.",
        ),
    ),
)
def test_on_hold_the_line_says_the_agents_are_busy_and_the_place_then_music(
    app, keys, queued, on_hold
):
    """Not music alone (issue #21, point 8): the queue's waitUrl is the line's own, asked
    again each time its words and music have played, until an agent answers."""
    phone = Phone.for_app(app, token=TOKEN, agent_after=60)
    phone.dial()
    for key in keys:
        phone.press(key)
    phone.press("0")
    heard = phone.heard.split("\n")
    assert heard[0] == queued
    assert set(heard[1:]) == {on_hold}
    after = [e for e in phone.events if e.t >= phone.last("transfer").t]
    kinds = [e.kind for e in after if e.kind in ("say", "play", "bridged")]
    assert kinds[:5] == ["say", "play", "play", "say", "play"]  # words, the tune twice, again
    assert kinds[-1] == "bridged"
    music = {e.data["url"] for e in after if e.kind == "play"}
    assert music == {"http://localhost/voice/hold/music.wav"}  # the line's own, played offline
    played = [e.data["duration"] for e in after if e.kind == "play"]
    assert played[:2] == [19.2, 19.2]  # twice, between two sayings of the place


def test_agent_outside_office_hours(phone, clock):
    clock.advance(days=3)  # Saturday
    phone.dial(to="010-12333").press("0")
    assert "现在不是人工服务时间。" in phone.heard
    assert "人工服务时间是法定工作日上午九点到中午十二点、下午一点到五点。" in phone.heard
    assert "余额请按1" in phone.heard
    assert phone.last("transfer") is None


def test_agent_hours_in_english(phone, clock):
    clock.advance(hours=10)  # 21:00 in Beijing
    phone.dial(to="010-12333").press("9").press("0")
    assert "Agents answer on official working days, 9 am to noon and 1 pm to 5 pm." in phone.heard


def test_agent_from_account_services(phone):
    identify(phone.dial().press("5"), BEIJING_ID, "123456").press("0")
    assert "正在为您转接人工服务" in phone.heard


def test_invalid_key_says_so_then_short_menu(phone):
    phone.dial().press("7")
    assert "对不起，您的按键有误。" in phone.heard
    assert "余额请按1，缴费记录请按2" in phone.heard


def test_no_input_reprompts_then_goodbye_out_of_hours(phone, clock):
    clock.advance(days=3)  # Saturday
    phone.dial().wait()
    assert "对不起，没有收到您的按键。" in phone.heard
    assert "余额请按1" in phone.heard
    phone.wait().wait()
    # The caller keyed nothing: the line does not speak of their "输入次数".
    assert phone.heard == "对不起，多次没有收到您的按键。\n感谢您的来电，再见。"
    assert phone.ended


def test_no_input_in_agent_hours_puts_the_caller_through(phone):
    phone.dial().wait().wait().wait()
    assert phone.heard.startswith(
        "对不起，多次没有收到您的按键。\n正在为您转接人工服务，请稍候。\n坐席正忙，"
    )
    assert phone.last("transfer").data["queue"] == "12333-agents"


def test_finish_key_alone_counts_as_no_input(phone):
    phone.dial().press("1").enter("#")
    assert "没有收到您的按键" in phone.heard


def test_three_invalid_inputs_end_the_call_out_of_hours(phone, clock):
    clock.advance(hours=10)  # 21:00 in Beijing
    phone.dial().press("7").press("8").press("6")
    assert "您的输入次数已达上限。" in phone.heard
    assert "感谢您的来电，再见。" in phone.heard
    assert phone.last("hangup").data["by"] == "app"


@pytest.mark.parametrize(
    "typo",
    (
        "440305199002200138",  # one digit off in an all-digit ID: not a card number
        "11010519491231003*",  # X where the check is another
        "11010519491331002*",  # no 13th month
    ),
)
def test_a_mistyped_id_is_keyed_again_and_locks_nothing(phone, typo):
    phone.dial().press("1")
    for _ in range(2):
        phone.enter(typo + "#")
        assert phone.heard.startswith("您输入的身份证号码有误，请核对。")
        assert "密码" not in phone.heard
        assert "十八位" not in phone.heard
    phone.enter(typo[:-1] + ("*" if typo.endswith("*") else "9") + "#")
    # The right number then: the account was never counted against.
    identify(phone.dial().press("1"), SHENZHEN_ID, "246810")
    assert "余额是三千二百八十七元四角" in phone.heard


def test_a_mistyped_id_in_english(phone):
    phone.dial().press("9").press("1").enter(BAD_CHECKSUM_ID + "#")
    assert phone.heard.startswith("That ID number isn't valid. Please check it.")


def test_wrong_length_in_english(phone):
    phone.dial().press("9").press("1").enter("12345#")
    assert "That number has the wrong length." in phone.heard


def test_bad_card_number_refused(phone):
    phone.dial().press("1").enter("1234#")
    assert "号码有误。身份证号码是十八位" in phone.heard
    assert "不要输入银行卡号" in phone.heard


def test_wrong_pin_says_tries_left(phone):
    identify(phone.dial().press("1"), BEIJING_ID, "000000")
    assert "号码或密码不正确。\n您还可以尝试两次。" in phone.heard
    phone.enter("111111#")
    assert "您还可以尝试一次。" in phone.heard
    phone.enter("123456#")
    assert "余额是一千二百三十四元五角六分" in phone.heard


def test_pin_of_wrong_length(phone):
    identify(phone.dial().press("1"), BEIJING_ID, "12345")
    # The entry's try is used, and the caller is told so: the tries left, as after a wrong PIN.
    assert phone.heard.startswith("查询密码是六位数字。\n您还可以尝试两次。")


def test_unknown_number_sounds_like_wrong_pin(phone):
    identify(phone.dial().press("1"), UNKNOWN_ID, "123456")
    unknown = phone.heard
    identify(phone.dial().press("1"), BEIJING_ID, "000000")
    assert unknown == phone.heard  # word for word the same answer
    assert "您还可以尝试两次" in unknown


def test_three_wrong_pins_lock_across_calls(phone, clock):
    identify(phone.dial().press("1"), BEIJING_ID, "000000")
    phone.enter("000001#").enter("000002#")
    assert "密码错误次数过多，该账户的电话查询已暂停，请三十分钟后再拨。" in phone.heard
    assert phone.ended  # not the menu, where the caller's PIN keys would be bad choices
    assert "请按" not in phone.heard
    # A new call, the right PIN: still locked.
    phone.dial().press("1").enter(BEIJING_ID + "#")
    assert "密码错误次数过多" in phone.heard
    # Another account is not affected.
    identify(phone.dial().press("1"), SHENZHEN_ID, "246810")
    assert "余额是三千二百八十七元四角" in phone.heard
    # 29 minutes later: still locked; 30: open again.
    clock.advance(minutes=29)
    phone.dial().press("1").enter(BEIJING_ID + "#")
    assert "密码错误次数过多" in phone.heard
    clock.advance(minutes=1)
    identify(phone.dial().press("1"), BEIJING_ID, "123456")
    assert "余额是一千二百三十四元五角六分" in phone.heard


@pytest.mark.parametrize(("minutes", "spoken"), ((2, "两分钟"), (30, "三十分钟"), (12, "十二分钟")))
def test_lockout_minutes_are_read_as_a_count(make_app, minutes, spoken):
    """Minutes are counted, so 2 is 两 (两分钟, never 二分钟), as the tries left are."""
    phone = Phone.for_app(make_app(IVR_LOCKOUT_MINUTES=minutes), token=TOKEN)
    identify(phone.dial().press("1"), BEIJING_ID, "000000")
    phone.enter("000001#").enter("000002#")
    assert f"该账户的电话查询已暂停，请{spoken}后再拨。" in phone.heard
    phone.dial().press("9").press("1").enter(BEIJING_ID + "#")
    assert f"for this account are paused. Please call again in {minutes} minutes." in phone.heard


def test_unknown_number_locks_like_a_real_one(phone):
    identify(phone.dial().press("1"), UNKNOWN_ID, "000000")
    phone.enter("000001#").enter("000002#")
    assert "密码错误次数过多" in phone.heard


def test_locked_in_english(phone):
    identify(phone.dial().press("9").press("1"), BEIJING_ID, "000000")
    phone.enter("000001#").enter("000002#")
    assert (
        "phone queries for this account are paused. Please call again in 30 minutes" in phone.heard
    )


def test_lockout_by_card_is_the_cards(phone):
    phone.dial().press("1").enter("110000001#")
    phone.enter("000000#").enter("000001#").enter("000002#")
    assert "密码错误次数过多" in phone.heard


def test_barge_in_cuts_the_welcome(phone):
    phone.dial()
    phone.press("1", at=2.0)
    said = [e for e in phone.events if e.kind == "say" and e.t < 2.0]
    assert said[0].data["cut"] is True
    assert "请输入身份证号或社保卡号" in phone.heard


def test_every_call_ends_with_a_goodbye_on_silence(phone, clock):
    clock.advance(days=3)  # Saturday: no agent to put the caller through to
    identify(phone.dial().press("1"), BEIJING_ID, "123456")
    phone.wait().wait().wait()
    assert phone.ended
    assert phone.heard.endswith("感谢您的来电，再见。")


# The single-path tests above are in Mandarin; these are the paths they leave unheard in English.
ENGLISH_PATHS = (
    ("1 440300003# 246810#", "balance is 3,287 yuan and 40 fen"),
    ("2 440305199002200139# 246810# 2 2", "April twenty twenty-six: your own share, 150 yuan, received.\nThere are no more records"),
    ("2 650102195809120210# 888888#", "You are retired, so you no longer pay medical insurance contributions"),
    ("3 310101194903010318# 654321#", "receive 1,680 yuan once a year, at the start of the medical insurance year, or 1,890 yuan from age 75"),
    ("3 650102195809120210# 888888#", "about 2 percent of the region's average basic pension in the year of the outpatient-pooling reform. The local medical insurance office publishes the amount."),
    ("1 650102198707040387# 135790#", "which has no personal account"),
    ("4", "For other ways to check your account, press 1. For residents' insurance payments, press 2."),
    ("4 1", "the medical insurance hotline, 1 2 3 9 3"),
    ("0", "Connecting you to an agent"),
    ("5 11010519491231002*# 123456# 0", "Connecting you to an agent"),
    ("7", "Sorry, that key is not an option"),
    (".", "Sorry, we didn't receive any input"),
    ("7 7 7", "That was the last try.\nConnecting you to an agent."),
    ("1 12#", "not a bank card number"),
    ("1 11010519491231002*# 000000#", "The number or the PIN is not correct.\nYou have 2 tries left."),
    ("1 110000001# 000000# 1234# 000000#", "The number or the PIN is not correct.\nThat was the last try."),
    ("1 11010519491231002*# *#", "Enter your ID or card number"),
    ("1 *#", "For your balance, press 1"),
    ("1 11010519491231002*# 123456# 1", "balance is 1,234 yuan and 56 fen"),
)  # fmt: skip


@pytest.mark.parametrize(("keys", "english"), ENGLISH_PATHS)
def test_menu_paths_in_english(phone, keys, english):
    phone.dial().press("9")
    for group in keys.split():
        phone.press(group)
    assert english in phone.heard
