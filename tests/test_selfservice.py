"""Issue #12 as a caller hears it: each language's offer in its own voice, one entry for an ID
or a card number, "1 try left", the last page of records, and the account services after the
PIN (change the query PIN, report the card lost), in both languages."""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from softphone.phone import Phone

from ivr import identity
from ivr.accounts import parse_account
from ivr.identity import IdentityError
from ivr.regions import load_regions
from tests.conftest import TOKEN
from tests.conftest import account
from tests.databases import BACKENDS
from tests.databases import database_url

BEIJING_ID = "11010519491231002*"  # ends in X, keyed as *; card 110000001, PIN 123456
BEIJING_CARD = "110000001"
SHENZHEN_ID = "440305199002200139"  # employee, 7 payments; card 440300003, PIN 246810
SHANGHAI_ID = "310101194903010318"  # no card, PIN 654321
URUMQI_RETIREE_ID = "650102195809120210"  # no payments, PIN 888888
NEW_EMPLOYEE_ID = "650102198005050038"  # imported by the test that needs it: no payments yet
HOLD = dt.timedelta(days=7)  # a loss report's hold in Beijing (regions.toml card_hold_days)


@pytest.fixture
def line(make_app):
    """The app, with new PINs hashed at the tests' low cost."""
    return make_app(IVR_PIN_HASH_COST=2**4)


@pytest.fixture
def phone(line):
    return Phone.for_app(line, token=TOKEN)


def says(phone):
    """(text, language) of every <Say> since the last key press."""
    # phone.mark is a place in the call's order (Call.mark), not an index into its events
    since = phone.call.since(phone.mark)
    return [(e.data["text"], e.data["language"]) for e in since if e.kind == "say"]


def sign_in(phone, number, pin, lang="zh"):
    """Dial, pick the language, and be identified by way of account services."""
    phone.dial(to="010-12333")
    if lang == "en":
        phone.press("9")
    return phone.press("5").enter(number + "#").enter(pin + "#")


# Each language's offer in its own voice


def test_the_mandarin_menu_offers_english_in_the_english_voice(phone):
    phone.dial(to="010-12333")
    spoken = [(e.data["text"], e.data["language"]) for e in phone.events if e.kind == "say"]
    assert spoken[1] == ("For English, press 9.", "en-US")
    assert spoken[2][1] == "cmn-CN"
    assert "余额请按1" in spoken[2][0]
    assert "For English" not in spoken[2][0]  # the menu itself no longer holds the offer


def test_the_english_menu_offers_mandarin_in_the_mandarin_voice(phone):
    phone.dial(to="010-12333").press("9")
    assert says(phone)[0] == ("普通话请按9。", "cmn-CN")  # first, with no words before it
    assert says(phone)[1][1] == "en-US"
    assert "For your balance, press 1." in says(phone)[1][0]
    phone.wait()  # the short reprompt keeps the offer, in its own voice
    assert ("普通话请按9。", "cmn-CN") in says(phone)
    assert "普通话" not in " ".join(text for text, lang in says(phone) if lang == "en-US")


def test_the_offer_plays_the_other_languages_recording(make_app):
    phone = Phone.for_app(make_app(IVR_VOICE_MODE="play"), token=TOKEN)
    phone.dial(to="010-12333")
    plays = [e.data["url"] for e in phone.events if e.kind == "play"]
    assert plays[1].endswith("/audio/en/language_offer.wav")
    assert plays[2].endswith("/audio/zh/main_menu.wav")
    phone.press("9")
    plays = [e.data["url"] for e in phone.call.since(phone.mark) if e.kind == "play"]
    assert plays[0].endswith("/audio/zh/language_offer.wav")
    assert plays[1].endswith("/audio/en/main_menu.wav")


# One entry: an ID number or a card number


@pytest.mark.parametrize(
    ("keyed", "kind"),
    (
        ("11010519491231002*", "id"),
        # 18 digits, a wrong check digit: no ID, so the form says card (the line itself refuses
        # it as a mistyped ID before asking for a PIN: test_calls, invalid_id)
        ("110105194912310021", "card"),
        ("110000001", "card"),
        ("6217001234567890123", "card"),
    ),
)
def test_an_entry_is_told_apart_by_form_and_checksum(keyed, kind):
    assert identity.classify_number(keyed)[0] == kind


@pytest.mark.parametrize("keyed", ("12345678", "12345678901234567890", "1101051949123100X1", ""))
def test_an_entry_that_is_neither_is_refused(keyed):
    with pytest.raises(IdentityError):
        identity.classify_number(keyed)


def test_balance_by_card_with_no_identify_menu(phone):
    phone.dial(to="010-12333").press("1")
    assert "请输入身份证号或社保卡号，按井号键结束" in phone.heard
    phone.enter(BEIJING_CARD + "#")
    assert "请输入查询密码" in phone.heard
    phone.enter("123456#")
    assert "您的医保个人账户余额是一千二百三十四元五角六分。" in phone.heard


def test_balance_by_id_in_english_with_no_identify_menu(phone):
    phone.dial(to="010-12333").press("9").press("1")
    assert "Enter your ID or card number, then press hash." in phone.heard
    phone.enter(BEIJING_ID + "#").enter("123456#")
    assert "As of November eighteenth, twenty twenty-six," in phone.heard  # the balance is dated
    assert "personal account balance is 1,234 yuan and 56 fen." in phone.heard


@pytest.mark.parametrize(
    ("lang", "said"),
    (("zh", "号码有误。身份证号码是十八位"), ("en", "That number has the wrong length.")),
)
def test_an_entry_of_a_wrong_length_says_why(phone, lang, said):
    phone.dial(to="010-12333")
    if lang == "en":
        phone.press("9")
    phone.press("1").enter("12345#")
    assert said in phone.heard


# Small ones


@pytest.mark.parametrize(
    ("lang", "two", "one"),
    (
        ("en", "You have 2 tries left.", "You have 1 try left."),
        ("zh", "您还可以尝试两次。", "您还可以尝试一次。"),
    ),
)
def test_tries_left_read_right(phone, lang, two, one):
    phone.dial(to="010-12333")
    if lang == "en":
        phone.press("9")
    phone.press("1").enter(BEIJING_ID + "#").enter("000001#")
    assert two in phone.heard
    phone.enter("000001#")
    assert one in phone.heard


@pytest.mark.parametrize(
    ("lang", "more"), (("zh", "查询更早的记录请按2"), ("en", "For earlier records, press 2."))
)
def test_earlier_records_are_offered_only_while_there_are_more(phone, lang, more):
    phone.dial(to="010-12333")
    if lang == "en":
        phone.press("9")
    phone.press("2").enter(SHENZHEN_ID + "#").enter("246810#")
    assert more in phone.heard  # 7 payments: a second page
    phone.press("2")
    assert more in phone.heard  # a third page
    phone.press("2")
    assert more not in phone.heard  # the seventh, and the end
    assert ("没有更多记录了。" if lang == "zh" else "There are no more records.") in phone.heard


@pytest.mark.parametrize(
    ("number", "pin", "said"),
    (
        # A retiree no longer pays (社会保险法 第二十七条) and is told so, not "no records".
        (URUMQI_RETIREE_ID, "888888", "您已办理退休，退休后不再缴纳职工医保费，因此没有缴费记录。"),
        (NEW_EMPLOYEE_ID, "258369", "没有查询到您的缴费记录。"),
    ),
)
def test_no_records_at_all_offers_no_earlier_ones(line, phone, number, pin, said):
    employee = account(NEW_EMPLOYEE_ID, "258369", "urumqi", "employee", "9.00")
    line.extensions["ivr"].store.replace_accounts(
        [parse_account(employee, 0, load_regions(), cost=2**4)]
    )
    phone.dial(to="010-12333").press("2").enter(number + "#").enter(pin + "#")
    assert said in phone.heard
    assert "没有更多记录了" not in phone.heard
    assert "查询更早的记录请按2" not in phone.heard
    assert "再听一遍请按1" in phone.heard


def test_an_employees_payment_line_says_it_is_the_personal_share(phone):
    phone.dial(to="010-12333").press("2").enter(SHENZHEN_ID + "#").enter("246810#")
    assert "二〇二六年十月，个人缴费一百六十二元五角，未到账。" in phone.heard
    phone.dial(to="010-12333").press("9").press("2").enter(SHENZHEN_ID + "#").enter("246810#")
    assert (
        "October twenty twenty-six: your own share, 162 yuan and 50 fen, not yet received."
        in phone.heard
    )


# Account services: change the query PIN


def test_the_main_menu_keeps_five_options_and_offers_account_services(phone):
    phone.dial(to="010-12333")
    assert "密码和挂失请按5" in phone.heard
    assert "请按6" not in phone.heard
    phone.dial(to="010-12333").press("9")
    assert "For your PIN or a lost card, press 5." in phone.heard
    assert "press 6" not in phone.heard


@pytest.mark.parametrize(
    ("lang", "menu", "changed", "balance"),
    (
        (
            "zh",
            "修改查询密码请按1，社保卡临时挂失请按2",
            "查询密码已修改",
            "余额是一千二百三十四元",
        ),
        (
            "en",
            "To change your query PIN, press 1.",
            "Your query PIN has been changed.",
            "1,234 yuan",
        ),
    ),
)
def test_change_the_pin_then_the_new_one_opens_the_account(phone, lang, menu, changed, balance):
    sign_in(phone, BEIJING_ID, "123456", lang)
    assert menu in phone.heard
    phone.press("1")
    assert ("请输入原密码" if lang == "zh" else "Enter your current PIN") in phone.heard
    phone.enter("123456#").enter("258147#").enter("258147#")
    assert (
        "确认修改密码请按1" if lang == "zh" else "To confirm the new PIN, press 1."
    ) in phone.heard
    phone.press("1")
    assert changed in phone.heard
    phone.dial(to="010-12333")
    if lang == "en":
        phone.press("9")
    phone.press("1").enter(BEIJING_CARD + "#").enter("123456#")  # the old PIN no longer works
    assert balance not in phone.heard
    phone.enter("258147#")
    assert balance in phone.heard


FROM_ACCOUNT = "新密码不能使用出生日期，也不能使用身份证号码或社保卡号中连续的六位数字。"


@pytest.mark.parametrize(
    ("new", "said"),
    (
        ("000000", "新密码太容易被猜到"),
        ("123456", "新密码太容易被猜到"),
        ("111111", "新密码太容易被猜到"),
        ("987654", "新密码太容易被猜到"),
        ("345678", "新密码太容易被猜到"),
        ("789012", "新密码太容易被猜到"),  # a run that wraps
        ("123123", "新密码太容易被猜到"),
        ("121212", "新密码太容易被猜到"),
        ("112233", "新密码太容易被猜到"),
        ("123321", "新密码太容易被猜到"),
        ("131331", "新密码太容易被猜到"),  # two digits only
        # From the account (ID 440305199002200139, born 1990-02-20, card 440300003): its
        # own words, not "too easy" (issue #20)
        ("900220", FROM_ACCOUNT),
        ("200290", FROM_ACCOUNT),
        ("022090", FROM_ACCOUNT),
        ("199002", FROM_ACCOUNT),
        ("200139", FROM_ACCOUNT),  # the ID's last six
        ("440300", FROM_ACCOUNT),  # the card's
        ("246810", "新密码不能与原密码相同"),
        ("12345", "查询密码是六位数字。\n您还可以尝试两次。"),
    ),
)
def test_an_easy_or_unchanged_new_pin_is_refused(phone, new, said):
    sign_in(phone, SHENZHEN_ID, "246810").press("1").enter("246810#").enter(new + "#")
    assert said in phone.heard
    assert ("新密码太容易被猜到" in phone.heard) == (said == "新密码太容易被猜到")
    assert "请输入六位新密码" in phone.heard  # asked again


def test_easy_pins_refused_in_english(phone):
    sign_in(phone, SHENZHEN_ID, "246810", "en").press("1").enter("246810#").enter("222222#")
    assert "That PIN is too easy to guess" in phone.heard
    phone.enter("900220#")  # the birth date, 1990-02-20
    assert (
        "The new PIN can't be your birth date, or six digits in a row from your ID or card number."
    ) in phone.heard.split("too easy to guess")[-1]
    phone.enter("246810#")
    assert "The new PIN must differ from your current one." in phone.heard


def test_after_the_last_refused_new_pin_the_line_invites_no_other(phone):
    """A refusal says why; the reprompt asks again. After the last try nothing asks again."""
    sign_in(phone, SHENZHEN_ID, "246810").press("1").enter("246810#")
    phone.enter("222222#")
    assert "请输入六位新密码" in phone.heard  # asked again while it can be
    phone.enter("111111#").enter("333333#")
    assert phone.heard.startswith(
        "新密码太容易被猜到，比如六个相同的数字或一二三四五六这样连续的数字。"
    )
    assert "您的输入次数已达上限。" in phone.heard
    assert "请换" not in phone.heard
    assert "请输入" not in phone.heard


def test_two_different_new_pins_start_the_new_pin_again(phone, line):
    sign_in(phone, SHANGHAI_ID, "654321").press("1").enter("654321#")
    phone.enter("258147#").enter("258174#")
    assert "两次输入的新密码不一致。" in phone.heard
    assert "请输入六位新密码" in phone.heard
    phone.enter("369258#").enter("369258#").press("*")  # cancel at the confirmation
    assert "修改查询密码请按1" in phone.heard
    account = line.extensions["ivr"].store.find_account("id", SHANGHAI_ID)
    assert identity.verify_pin("654321", account.pin_hash)  # nothing changed


def test_wrong_old_pins_lock_the_account_and_end_the_call(phone, line):
    sign_in(phone, SHANGHAI_ID, "654321", "en").press("1").enter("000001#")
    assert "That is not your current PIN.\nYou have 2 tries left." in phone.heard
    phone.enter("000001#")
    assert "You have 1 try left." in phone.heard
    phone.enter("000001#")
    assert (
        "phone queries for this account are paused. Please call again in 30 minutes" in phone.heard
    )
    assert phone.heard.endswith("Thank you for calling. Goodbye.")
    assert phone.ended  # a lock ends the call: no menu for habitual PIN keys to fall into
    phone.dial(to="010-12333").press("9").press("1")  # the lock holds on the next call
    phone.enter(SHANGHAI_ID + "#")
    assert "paused. Please call again in 30 minutes" in phone.heard
    assert "Enter your query PIN" not in phone.heard


# Account services: report the card lost


@pytest.mark.parametrize(
    ("lang", "confirm", "done", "refused"),
    (
        (
            "zh",
            # What a 临时挂失 suspends, and that the bank's side is the bank's (issue #21, 5)
            "就医购药等社保功能将暂停使用。卡上的银行账户，请另外拨打该银行的客服电话挂失。"
            "确认挂失请按1",
            # How long it holds, and that it is lifted by phone or at a service point
            "尾号零零零幺的社保卡已临时挂失，七天内有效。请在七天内带上身份证到社保卡服务网点"
            "办理挂失补办手续；找回社保卡的，可以在七天内拨打本热线或到社保卡服务网点解除挂失。",
            "这张社保卡已临时挂失，不能用卡号查询。请输入身份证号码",
        ),
        (
            "en",
            "such as paying for medical care and medicines, are suspended. Report its bank"
            " account to the issuing bank's hotline separately. To report it lost, press 1.",
            "Your social security card ending 0 0 0 1 is now reported lost, for 7 days. Within"
            " them, please bring your ID to a social security card service point to make the"
            " report formal and get a new card. If you find the card, you can lift the report"
            " on this line or at a service point within that time.",
            "This social security card is reported lost, so it cannot be used",
        ),
    ),
)
def test_a_lost_card_identifies_no_one_but_the_id_still_does(
    phone, line, lang, confirm, done, refused
):
    sign_in(phone, BEIJING_ID, "123456", lang).press("2")
    assert confirm in phone.heard
    phone.press("1")
    assert done in phone.heard
    assert line.extensions["ivr"].store.card_lost(
        BEIJING_CARD, line.extensions["ivr"].clock(), HOLD
    )
    phone.dial(to="010-12333")
    if lang == "en":
        phone.press("9")
    phone.press("1").enter(BEIJING_CARD + "#").enter("123456#")
    assert refused in phone.heard
    assert "1,234" not in phone.heard
    assert "一千二百三十四" not in phone.heard
    phone.enter(BEIJING_ID + "#").enter("123456#")  # the ID still works
    assert ("一千二百三十四元五角六分" if lang == "zh" else "1,234 yuan and 56 fen") in phone.heard


def test_a_lost_card_never_confirms_a_right_pin(line):
    """The refusal came only after the right PIN: whoever held the card learnt the PIN."""
    hotline = line.extensions["ivr"]
    hotline.store.report_card_lost(BEIJING_CARD, hotline.clock(), HOLD)
    texts = hotline.prompts.texts["zh"]
    heard = {}
    for pin in ("123456", "000001"):  # the right PIN, a wrong one
        phone = Phone.for_app(line, token=TOKEN)
        phone.dial(to="010-12333").press("1").enter(BEIJING_CARD + "#").enter(pin + "#")
        heard[pin] = phone.heard
    assert heard["123456"] == heard["000001"]  # the same words whatever the PIN
    assert texts["card_lost_refused"] in heard["123456"]
    assert texts["wrong_pin"] not in heard["123456"]
    assert "余额" not in heard["123456"]


def test_a_card_found_at_a_window_identifies_again(phone, line):
    store = line.extensions["ivr"].store
    assert store.report_card_lost(BEIJING_CARD, line.extensions["ivr"].clock(), HOLD)
    assert not store.report_card_lost(BEIJING_CARD, line.extensions["ivr"].clock(), HOLD)
    store.report_card_found(BEIJING_CARD)
    phone.dial(to="010-12333").press("1").enter(BEIJING_CARD + "#").enter("123456#")
    assert "一千二百三十四元五角六分" in phone.heard


def test_reporting_twice_or_without_a_card(phone):
    sign_in(phone, BEIJING_ID, "123456").press("2").press("1").press("*").press("5").press("2")
    phone.press("1")
    assert "尾号零零零幺的社保卡已经临时挂失了。" in phone.heard
    sign_in(phone, SHANGHAI_ID, "654321", "en").press("2").press("1")
    assert "There is no social security card number on your account" in phone.heard


def test_star_at_the_lost_card_confirmation_goes_back_and_reports_nothing(phone, line):
    sign_in(phone, BEIJING_ID, "123456").press("2").press("*")
    assert "修改查询密码请按1" in phone.heard
    assert not line.extensions["ivr"].store.card_lost(
        BEIJING_CARD, line.extensions["ivr"].clock(), HOLD
    )


@pytest.mark.parametrize(
    ("lang", "ended", "refused", "balance"),
    (
        ("zh", "您本次是用这张卡号登录的", "这张社保卡已临时挂失", "一千二百三十四元五角六分"),
        ("en", "You signed in with that card", "is reported lost", "1,234 yuan and 56 fen"),
    ),
)
def test_reporting_the_card_that_identified_the_call_ends_its_identification(
    phone, lang, ended, refused, balance
):
    sign_in(phone, BEIJING_CARD, "123456", lang).press("2").press("1")
    assert ended in phone.heard
    phone.press("*").press("1")  # the balance asks who is calling again
    assert ("请输入身份证号或社保卡号" if lang == "zh" else "Enter your ID or card") in phone.heard
    phone.enter(BEIJING_CARD + "#").enter("123456#")
    assert refused in phone.heard
    assert balance not in phone.heard
    phone.enter(BEIJING_ID + "#").enter("123456#")
    assert balance in phone.heard


def test_reporting_by_id_keeps_the_call_identified(phone):
    sign_in(phone, BEIJING_ID, "123456").press("2").press("1")
    assert "您本次是用这张卡号登录的" not in phone.heard
    phone.press("*").press("1")
    assert "一千二百三十四元五角六分" in phone.heard


# The store's side, on SQLite and PostgreSQL alike


@pytest.fixture(params=BACKENDS)
def store_app(make_app, request, tmp_path):
    with database_url(request.param, tmp_path) as url:
        yield make_app(DATABASE_URL=url, IVR_PIN_HASH_COST=2**4)


def test_lost_cards_are_reported_once_and_survive_a_reimport(store_app, account_rows, clock):
    store = store_app.extensions["ivr"].store
    with ThreadPoolExecutor(8) as pool:  # eight reports at once: exactly one is the first
        firsts = list(
            pool.map(lambda _: store.report_card_lost(BEIJING_CARD, clock(), HOLD), range(8))
        )
    assert firsts.count(True) == 1
    store.replace_accounts(account_rows)  # an operator's import keeps the card lost
    assert store.card_lost(BEIJING_CARD, clock(), HOLD)
    store.report_card_found(BEIJING_CARD)
    assert not store.card_lost(BEIJING_CARD, clock(), HOLD)


def test_a_loss_report_lapses_after_its_hold_and_a_new_one_replaces_it(store_app, clock):
    store = store_app.extensions["ivr"].store
    reported = clock()
    assert store.report_card_lost(BEIJING_CARD, reported, HOLD)
    assert store.card_lost(BEIJING_CARD, reported + HOLD - dt.timedelta(seconds=1), HOLD)
    assert not store.report_card_lost(BEIJING_CARD, reported + HOLD / 2, HOLD)  # still holds
    assert not store.card_lost(BEIJING_CARD, reported + HOLD, HOLD)  # lapsed: read as lifted
    assert store.report_card_lost(BEIJING_CARD, reported + HOLD, HOLD)  # a report afresh
    assert store.card_lost(BEIJING_CARD, reported + 2 * HOLD - dt.timedelta(seconds=1), HOLD)
    assert not store.card_lost(BEIJING_CARD, reported + 2 * HOLD, HOLD)


def test_a_lapsed_loss_report_no_longer_refuses_the_card_on_each_store(store_app, clock):
    """A 临时挂失 lifts itself after the region's card_hold_days (issue #21, point 5)."""
    phone = Phone.for_app(store_app, token=TOKEN)
    sign_in(phone, BEIJING_ID, "123456").press("2").press("1")
    assert "尾号零零零幺的社保卡已临时挂失，七天内有效。" in phone.heard
    clock.advance(days=7, seconds=-1)  # the hold's last second: the card is refused
    phone.dial(to="010-12333").press("1").enter(BEIJING_CARD + "#").enter("123456#")
    assert "这张社保卡已临时挂失，不能用卡号查询。" in phone.heard
    clock.advance(seconds=1)  # seven days on, nobody lifted it: it has lapsed
    phone.dial(to="010-12333").press("1").enter(BEIJING_CARD + "#").enter("123456#")
    assert "您的医保个人账户余额是一千二百三十四元五角六分。" in phone.heard
    assert "已临时挂失" not in phone.heard
    phone.press("*").press("5").press("3").press("1")  # nothing is left to lift
    assert "尾号零零零幺的社保卡没有挂失，不用解除。" in phone.heard
    phone.press("*").press("5").press("2").press("1")  # reported again: seven days afresh
    assert "尾号零零零幺的社保卡已临时挂失，七天内有效。" in phone.heard
    assert "已经临时挂失了" not in phone.heard


def test_a_new_pin_is_one_update(store_app):
    store = store_app.extensions["ivr"].store
    account = store.find_account("id", "11010519491231002X")
    assert store.set_pin_hash(account.id, identity.hash_pin("258147", n=2**4))
    assert identity.verify_pin("258147", store.get_account(account.id).pin_hash)
    assert not store.set_pin_hash(account.id + 1000, "scrypt$16$8$1$x$y")  # no such account


def test_pin_change_and_lost_card_whole_call_on_each_store(store_app):
    phone = Phone.for_app(store_app, token=TOKEN)
    sign_in(phone, BEIJING_CARD, "123456").press("1").enter("123456#")
    phone.enter("258147#").enter("258147#").press("1")
    assert "查询密码已修改" in phone.heard
    phone.press("*").press("5").press("2").press("1")
    assert "尾号零零零幺的社保卡已临时挂失，七天内有效。" in phone.heard
    phone.press("*").press("1").enter(BEIJING_ID + "#").enter("258147#")
    assert "您的医保个人账户余额是一千二百三十四元五角六分。" in phone.heard


# Two calls changing the same PIN at once (issue #20, point 8)


def at_confirmation(line, new):
    """A call that checked the old PIN and keyed a new one twice: it waits for "1" to save."""
    phone = Phone.for_app(line, token=TOKEN)
    sign_in(phone, SHANGHAI_ID, "654321").press("1").enter("654321#")
    phone.enter(new + "#").enter(new + "#")
    return phone


def test_of_two_calls_changing_the_pin_only_the_first_is_told_saved(line):
    first, second = at_confirmation(line, "258147"), at_confirmation(line, "369147")
    first.press("1")
    assert "查询密码已修改" in first.heard
    second.press("1")  # its new PIN was keyed against the PIN the first call replaced
    assert "密码没有修改。" in second.heard
    assert "查询密码已修改" not in second.heard
    account = line.extensions["ivr"].store.find_account("id", SHANGHAI_ID)
    assert identity.verify_pin("258147", account.pin_hash)


def test_two_calls_confirming_at_once_one_holds_on_each_store(store_app):
    phones = [at_confirmation(store_app, pin) for pin in ("258147", "369147")]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda phone: phone.press("1"), phones))
    saved = [phone for phone in phones if "查询密码已修改" in phone.heard]
    assert len(saved) == 1
    account = store_app.extensions["ivr"].store.find_account("id", SHANGHAI_ID)
    winner = "258147" if saved[0] is phones[0] else "369147"
    assert identity.verify_pin(winner, account.pin_hash)


def test_a_pin_is_set_only_over_the_hash_it_was_made_against(store_app):
    store = store_app.extensions["ivr"].store
    account = store.find_account("id", SHANGHAI_ID)
    new = identity.hash_pin("258147", n=2**4)
    assert not store.set_pin_hash(account.id, new, expected="scrypt$16$8$1$x$y")
    assert store.set_pin_hash(account.id, new, expected=account.pin_hash)
    assert not store.set_pin_hash(account.id, new, expected=account.pin_hash)  # gone now
