"""Every region a caller can come from: its area code, its names, its hours, its credit rule."""

import logging
from decimal import Decimal

import pytest

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
    ("region", "kind", "amount", "older_age", "older_amount", "source"),
    (
        ("beijing", "fixed_monthly", "100", 70, "110", "seed"),
        ("shanghai", "fixed_yearly", "1680", 75, "1890", "seed"),
        ("shenzhen", "fixed_monthly", "250", None, None, "seed"),
        ("gansu", "fixed_monthly", "60", None, None, "seed_shape"),
        ("chongqing", "fixed_monthly", "60", 70, "70", "seed_shape"),
        ("shandong", "fixed_monthly", "60", 70, "70", "seed_shape"),
        ("anhui", "fixed_monthly", "60", None, None, "seed_shape"),
        ("henan", "fixed_monthly", "60", None, None, "seed_shape"),
        ("jiangxi", "fixed_monthly", "60", None, None, "seed_shape"),
    ),
)
def test_the_seeds_credit_rules(regions, region, kind, amount, older_age, older_amount, source):
    rule = regions[region].credit
    assert (rule.kind, rule.amount, rule.older_age) == (kind, Decimal(amount), older_age)
    assert rule.older_amount == (Decimal(older_amount) if older_amount else None)
    assert rule.source == source


@pytest.mark.parametrize("region", ("dali", "yunnan", "sichuan", "xinjiang", "tianjin"))
def test_other_regions_take_the_national_rule(regions, region):
    rule = regions[region].credit
    assert (rule.kind, rule.percent, rule.source) == ("pension_share", Decimal("2"), "national")


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
    ("dialled", "logged"),
    (
        ("0123-12333", "dialled area code 0123: not in the regions table; the line is urumqi"),
        ("+14155550100", "dialled a number that is not code + 12333: not in the regions table"),
    ),
)
def test_an_unknown_area_code_gets_the_default_and_a_log_line(regions, dialled, logged, caplog):
    with caplog.at_level(logging.INFO, logger="ivr.regions"):
        assert regions.for_dialled(dialled).key == regions.default == "urumqi"
    assert logged in caplog.text


def test_plain_12333_is_the_default_without_a_log_line(regions, caplog):
    with caplog.at_level(logging.INFO, logger="ivr.regions"):
        assert regions.for_dialled("12333").key == "urumqi"
    assert caplog.text == ""


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
            '[regions.a]\narea_codes = ["010"]\ncredit = { kind = "fixed_monthly", amount = "1",'
            ' source = "rumour" }',
            "region a: credit.source must be one of",
        ),
    ),
)
def test_a_bad_regions_table_names_the_region(tmp_path, table, message):
    path = tmp_path / "regions.toml"
    head = 'default = "a"\n[defaults]\nagent_hours = "09:00-17:00"\n'
    head += 'credit = { kind = "pension_share", percent = "2", average_pension = "3000" }\n'
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
    assert f"人工服务时间为工作日{zh_heard}" in phone.heard
    phone.press("9").press("0")
    assert f"Agents answer on working days, {en_heard}." in phone.heard
