"""Every region a caller can come from: its area code, its names, its hours, its credit rule."""

import datetime as dt
import logging
from decimal import Decimal
from types import SimpleNamespace

import pytest

from ivr import actions
from ivr import regions as regions_module
from ivr.prompts import load_prompts
from ivr.regions import RegionError
from ivr.regions import load_regions

PROVINCES = {
    "beijing": "北京市", "tianjin": "天津市", "hebei": "河北省", "shanxi": "山西省",
    "neimenggu": "内蒙古", "liaoning": "辽宁省", "jilin": "吉林省", "heilongjiang": "黑龙江省",
    "shanghai": "上海市", "jiangsu": "江苏省", "zhejiang": "浙江省", "anhui": "安徽省",
    "fujian": "福建省", "jiangxi": "江西省", "shandong": "山东省", "henan": "河南省",
    "hubei": "湖北省", "hunan": "湖南省", "guangdong": "广东省", "guangxi": "广西",
    "hainan": "海南省", "chongqing": "重庆市", "sichuan": "四川省", "guizhou": "贵州省",
    "yunnan": "云南省", "xizang": "西藏", "shaanxi": "陕西省", "gansu": "甘肃省",
    "qinghai": "青海省", "ningxia": "宁夏", "xinjiang": "新疆",
}  # fmt: skip
SEED_CITIES = {"dali": "大理州", "urumqi": "乌鲁木齐市", "shenzhen": "深圳市"}  # 北京, 上海 above


@pytest.fixture(scope="module")
def regions():
    return load_regions()


def test_every_provincial_region_and_seed_city_has_a_name_in_both_languages(regions):
    assert len(PROVINCES) == 31
    assert set(regions.by_key) == set(PROVINCES) | set(SEED_CITIES)
    prompts = load_prompts()
    for key, name in {**PROVINCES, **SEED_CITIES}.items():
        assert prompts.texts["zh"][f"region_{key}"] == name
        assert prompts.texts["en"][f"region_{key}"].isascii()


@pytest.mark.parametrize(
    ("region", "kind", "amount", "older_age", "older_amount", "month"),
    (
        ("beijing", "fixed_monthly", "100", 70, "110", 1),
        ("shanghai", "fixed_yearly", "1680", 75, "1890", 4),  # its 医保年度 starts 1 April
        ("shenzhen", "fixed_monthly", "250", None, None, 1),
    ),
)
def test_the_seeds_figures_are_kept_with_their_source(
    regions, region, kind, amount, older_age, older_amount, month
):
    rule = regions[region].credit
    assert (rule.kind, rule.amount, rule.older_age) == (kind, Decimal(amount), older_age)
    assert rule.older_amount == (Decimal(older_amount) if older_amount else None)
    assert rule.month == month
    assert "seed" in rule.source


@pytest.mark.parametrize(
    ("region", "by_age", "heard"),
    (
        ("anhui", False, "安徽省退休人员的个人账户由统筹基金按月定额划入，标准不随年龄变化，具体标准由当地医保部门公布。"),
        ("jiangxi", False, "标准不随年龄变化"),
        ("henan", False, "标准不随年龄变化"),
        ("gansu", None, "甘肃省退休人员的个人账户由统筹基金按月定额划入，具体标准由当地医保部门公布。"),
        ("chongqing", True, "重庆市退休人员的个人账户由统筹基金按年龄段按月定额划入，具体标准由当地医保部门公布。"),
        ("shandong", True, "按年龄段"),
        ("urumqi", None, "乌鲁木齐市退休人员的个人账户由统筹基金按月定额划入，标准按门诊共济改革那一年本地区基本养老金平均水平的百分之二左右确定，具体金额由当地医保部门公布。"),
        ("xinjiang", None, "新疆退休人员的个人账户由统筹基金按月定额划入，标准按门诊共济改革那一年"),
    ),
)  # fmt: skip
def test_a_rule_without_a_sourced_figure_says_its_shape_and_who_publishes_it(
    regions, region, by_age, heard
):
    rule = regions[region].credit
    assert (rule.amount, rule.by_age) == (None, by_age)
    assert rule.source
    env = SimpleNamespace(regions=regions)
    (phrase,) = actions._rule(env, SimpleNamespace(region=region))
    text = load_prompts().text("zh", phrase)
    assert heard in text
    assert not set("约元") & set(text)


@pytest.mark.parametrize("region", ("dali", "yunnan", "sichuan", "xinjiang", "tianjin", "urumqi"))
def test_other_regions_take_the_national_rule(regions, region):
    rule = regions[region].credit
    assert (rule.kind, rule.percent, rule.amount) == ("pension_share", Decimal("2"), None)
    assert "国办发〔2021〕14号" in rule.source


def test_a_card_loss_report_holds_seven_days_where_the_sources_say_so(regions):
    assert {regions[key].card_hold_days for key in ("shaanxi", "sichuan", "beijing")} == {7}


@pytest.mark.parametrize(
    ("dialled", "region"),
    (
        ("0872-12333", "dali"),
        ("+86 872 12333", "dali"),
        ("0991-12333", "urumqi"),
        ("0998 12333", "xinjiang"),
        ("0871-12333", "yunnan"),
        ("010-12333", "beijing"),
        ("+86 755 12333", "shenzhen"),
        ("020-12333", "guangdong"),
        ("0891-12333", "xizang"),
        ("023-12333", "chongqing"),
    ),
)
def test_the_dialled_area_code_picks_the_line(regions, dialled, region, caplog):
    with caplog.at_level(logging.INFO, logger="ivr.regions"):
        assert regions.for_dialled(dialled).key == region
    assert caplog.text == ""


@pytest.mark.parametrize(
    ("dialled", "line", "logged"),
    (
        ("0123-12333", "-", "dialled area code 0123: not in the regions table; a neutral greeting"),
        ("0510-12333", "-", "dialled area code 0510"),
        ("0510-12393", "-/12393", "dialled area code 0510"),
        ("+14155550100", "urumqi", "dialled a number that is not code + 12333: the line is urumqi"),
    ),
)
def test_an_unknown_area_code_gets_a_neutral_line_and_a_log_line(
    regions, dialled, line, logged, caplog
):
    with caplog.at_level(logging.INFO, logger="ivr.regions"):
        assert regions.for_dialled(dialled).key == line
    assert logged in caplog.text


@pytest.mark.parametrize(
    ("dialled", "line"),
    (("12333", "urumqi"), ("12393", "urumqi/12393"), ("010-12393", "beijing/12393")),
)
def test_plain_numbers_are_the_default_and_12393_is_the_medical_line(
    regions, dialled, line, caplog
):
    with caplog.at_level(logging.INFO, logger="ivr.regions"):
        assert regions.for_dialled(dialled).key == line
    assert caplog.text == ""
    assert regions[line] is regions.line(line).region


@pytest.mark.parametrize(
    ("dialled", "zh_heard", "en_heard"),
    (
        ("010-12333", "欢迎致电北京市幺二三三三。", "Welcome to Beijing 1 2 3 3 3."),
        ("010-12393", "欢迎致电北京市医保服务热线。", "Welcome to the Beijing medical insurance hotline."),
        ("0510-12333", "欢迎致电幺二三三三。", "Welcome to 1 2 3 3 3."),
        ("0510-12393", "欢迎致电医保服务热线。", "Welcome to the medical insurance hotline."),
    ),
)  # fmt: skip
def test_the_greeting_names_the_dialled_line_and_no_region_it_does_not_know(
    phone, dialled, zh_heard, en_heard
):
    phone.dial(to=dialled)
    assert phone.heard.startswith(zh_heard)
    assert "乌鲁木齐" not in phone.heard
    phone.press("9")
    phone.dial(to=dialled)  # the greeting again, after the switch the call is English
    assert zh_heard in phone.heard


def test_area_codes_are_unique_and_well_formed(regions):
    codes = [code for region in regions.by_key.values() for code in region.area_codes]
    assert len(codes) == len(set(codes))
    assert all(code.startswith("0") and code.isdigit() for code in codes)


@pytest.mark.parametrize(
    ("table", "message"),
    (
        (
            '[regions.a]\narea_codes = ["010"]\n[regions.b]\narea_codes = ["010"]',
            "region b: area code 010 is already a's",
        ),
        ('[regions.a]\narea_codes = "010"', "region a: area_codes must be a list"),
        ('[regions.a]\narea_codes = ["10"]', "region a: area code '10' is not 0 and digits"),
        (
            '[regions.a]\narea_codes = ["010"]\ncredit = { kind = "fixed_monthly", amount = "1" }',
            "region a: credit.source must say where the rule comes from",
        ),
        (
            '[regions.a]\narea_codes = ["010"]\ncard_hold_days = 0',
            "region a: card_hold_days must be a whole number of days",
        ),
    ),
)
def test_a_bad_regions_table_names_the_region(tmp_path, table, message):
    path = tmp_path / "regions.toml"
    head = 'default = "a"\n[defaults]\nagent_hours = "09:00-17:00"\n'
    head += "card_hold_days = 7\n"
    head += 'credit = { kind = "pension_share", percent = "2", source = "a notice" }\n'
    path.write_text(head + table, encoding="utf-8")
    with pytest.raises(RegionError, match=message):
        load_regions(path)


@pytest.mark.parametrize(
    ("dialled", "zh_heard", "en_heard"),
    (
        ("0755-12333", "上午九点到中午十二点、下午两点到六点", "9 am to noon and 2 pm to 6 pm"),
        ("0991-12333", "上午十点到下午一点半、下午三点半到晚上七点", "10 am to 1:30 pm and 3:30 pm to 7 pm"),
    ),
)  # fmt: skip
def test_agent_hours_are_the_lines_read_on_the_twelve_hour_clock(
    phone, clock, dialled, zh_heard, en_heard
):
    clock.advance(hours=12)  # 23:00 in Beijing: every region's agents have gone home
    phone.dial(to=dialled).press("0")
    assert f"人工服务时间是法定工作日{zh_heard}" in phone.heard
    phone.press("9").press("0")
    assert f"Agents answer on official working days, {en_heard}." in phone.heard


@pytest.mark.parametrize(
    ("moment", "open_"),
    (
        (dt.datetime(2026, 10, 1, 10, 0), False),  # 国庆节, a Thursday
        (dt.datetime(2026, 10, 10, 10, 0), True),  # a Saturday worked for 国庆节 (调休)
        (dt.datetime(2026, 10, 17, 10, 0), False),  # an ordinary Saturday
        (dt.datetime(2026, 11, 18, 10, 0), True),  # an ordinary Wednesday
        (dt.datetime(2026, 11, 18, 12, 30), False),  # its lunch break
    ),
)
def test_agents_keep_chinas_working_days_from_the_holiday_calendar(regions, moment, open_):
    assert regions_module.agents_open(regions["beijing"], moment) is open_


def test_on_national_day_agents_are_closed_and_the_line_offers_what_it_can(phone, clock):
    clock.now = dt.datetime(2026, 10, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Beijing
    phone.dial(to="010-12333").press("0")
    assert "正在为您转接人工服务" not in phone.heard
    assert "现在不是人工服务时间。" in phone.heard
    assert (
        "人工服务时间是法定工作日上午九点到中午十二点、下午一点到五点。自助语音服务全天开放，您可以继续自助查询，或在人工服务时间再拨。"
        in phone.heard
    )


def test_on_a_working_saturday_agents_answer(phone, clock):
    clock.now = dt.datetime(2026, 10, 10, 2, 0, tzinfo=dt.UTC)  # 10:00 in Beijing, 调休
    phone.dial(to="010-12333").press("0")
    assert "正在为您转接人工服务" in phone.heard
