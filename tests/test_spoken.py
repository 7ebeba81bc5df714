import datetime as dt
from decimal import Decimal

import pytest

from ivr.spoken import en
from ivr.spoken import zh


@pytest.mark.parametrize(
    ("amount", "heard"),
    (
        ("1234.56", "一千二百三十四元五角六分"),
        ("1005", "一千零五元"),
        ("1409.50", "一千四百零九元五角"),
        ("16409.02", "一万六千四百零九元零二分"),
        ("6007.14", "六千零七元一角四分"),
        ("2000", "两千元"),
        ("2200", "两千二百元"),
        ("250", "两百五十元"),
        ("10200", "一万零两百元"),
        ("12000", "一万两千元"),
        ("22000", "两万两千元"),
        ("10", "十元"),
        ("12", "十二元"),
        ("20", "二十元"),
        ("1010", "一千零一十元"),
        ("10005", "一万零五元"),
        ("1680", "一千六百八十元"),
        ("2", "两元"),
        ("2.02", "两元零二分"),
        ("0.02", "两分"),
        ("0.20", "两角"),
        ("0.22", "两角两分"),
        ("1.05", "一元零五分"),
        ("0", "零元"),
        ("0.00", "零元"),
        ("100000000", "一亿元"),
        ("200000000", "两亿元"),
        ("1200000.08", "一百二十万元零八分"),
        ("100010000", "一亿零一万元"),
        ("-50.50", "负五十元五角"),
    ),
)
def test_mandarin_money(amount, heard):
    assert zh.amount(Decimal(amount)) == heard


@pytest.mark.parametrize(
    ("amount", "heard"),
    (
        ("1234.56", "1,234 yuan and 56 fen"),
        ("1005", "1,005 yuan"),
        ("0.05", "5 fen"),
        ("0", "0 yuan"),
        ("1409.50", "1,409 yuan and 50 fen"),
        ("1200000.08", "1,200,000 yuan and 8 fen"),
        ("-3", "minus 3 yuan"),
    ),
)
def test_english_money(amount, heard):
    assert en.amount(Decimal(amount)) == heard


def test_money_refuses_fractions_of_a_fen():
    with pytest.raises(ValueError, match="more than two decimal places"):
        zh.amount(Decimal("1.005"))


@pytest.mark.parametrize(
    ("period", "zh_heard", "en_heard"),
    (
        ("2025-03", "二〇二五年三月", "March twenty twenty-five"),
        ("2010-10", "二〇一〇年十月", "October twenty ten"),
        ("2026-12", "二〇二六年十二月", "December twenty twenty-six"),
        ("2000-01", "二〇〇〇年一月", "January two thousand"),
    ),
)
def test_months(period, zh_heard, en_heard):
    assert zh.month(period) == zh_heard
    assert en.month(period) == en_heard


@pytest.mark.parametrize(
    ("digits", "zh_heard", "en_heard"),
    (
        ("002X", "零零二叉", "0 0 2 X"),
        ("12333", "幺二三三三", "1 2 3 3 3"),
        ("7109", "七幺零九", "7 1 0 9"),
    ),
)
def test_digits_one_by_one(digits, zh_heard, en_heard):
    assert zh.digits(digits) == zh_heard
    assert en.digits(digits) == en_heard


@pytest.mark.parametrize(
    ("value", "heard"),
    (
        (0, "零"),
        (2, "二"),
        (11, "十一"),
        (20, "二十"),
        (110, "一百一十"),
        (1001, "一千零一"),
        (20000, "两万"),
    ),
)
def test_mandarin_numbers(value, heard):
    assert zh.number(value) == heard


def test_counts_use_liang():
    assert zh.count(2) == "两"
    assert zh.count(1) == "一"


@pytest.mark.parametrize(
    ("spans", "zh_heard", "en_heard"),
    (
        (((9, 0), (12, 0)), "上午九点到中午十二点", "9 am to noon"),
        (((13, 0), (17, 0)), "下午一点到五点", "1 pm to 5 pm"),
        (((13, 30), (17, 15)), "下午一点半到五点十五分", "1:30 pm to 5:15 pm"),
        (((14, 0), (18, 0)), "下午两点到六点", "2 pm to 6 pm"),
        (((10, 0), (13, 30)), "上午十点到下午一点半", "10 am to 1:30 pm"),
        (((15, 30), (19, 0)), "下午三点半到晚上七点", "3:30 pm to 7 pm"),
        (((12, 30), (14, 0)), "中午十二点半到下午两点", "12:30 pm to 2 pm"),
    ),
)
def test_hours_on_the_twelve_hour_clock(spans, zh_heard, en_heard):
    span = tuple(dt.time(*moment) for moment in spans)
    assert zh.hours((span,)) == zh_heard
    assert en.hours((span,)) == en_heard


def test_hours_with_a_break():
    spans = ((dt.time(9), dt.time(12)), (dt.time(13), dt.time(17)))
    assert zh.hours(spans) == "上午九点到中午十二点、下午一点到五点"
    assert en.hours(spans) == "9 am to noon and 1 pm to 5 pm"


@pytest.mark.parametrize(
    ("year", "heard"),
    (
        (2026, "twenty twenty-six"),
        (2010, "twenty ten"),
        (2005, "two thousand five"),
        (1999, "nineteen ninety-nine"),
        (1905, "nineteen oh five"),
    ),
)
def test_english_years_as_americans_say_them(year, heard):
    assert en.year(year) == heard


@pytest.mark.parametrize(
    ("day", "zh_heard", "en_heard"),
    (
        (dt.date(2026, 11, 18), "二〇二六年十一月十八日", "November eighteenth, twenty twenty-six"),
        (dt.date(2026, 2, 2), "二〇二六年二月二日", "February second, twenty twenty-six"),
        (
            dt.date(2027, 1, 31),
            "二〇二七年一月三十一日",
            "January thirty-first, twenty twenty-seven",
        ),
        (dt.date(2026, 6, 20), "二〇二六年六月二十日", "June twentieth, twenty twenty-six"),
    ),
)
def test_dates_for_the_balance(day, zh_heard, en_heard):
    assert (zh.date(day), en.date(day)) == (zh_heard, en_heard)


def test_english_words_split_hyphens_for_the_clips():
    assert en.words(en.month("2026-11")) == "November twenty twenty six"
