"""Recorded mode reads every word of every prompt the way a Mandarin speaker does."""

import re

import pytest
from pypinyin import Style
from pypinyin import lazy_pinyin

from ivr import audio
from ivr import tts
from ivr.prompts import load_prompts

# Characters with more than one reading in everyday Mandarin (多音字). Wherever one occurs in a
# recorded text, a word of READINGS must cover it: a new prompt with one fails until its
# reading is written down here.
POLYPHONES = set("重为行还长发号调期只了中数处种更当地参藏宁蒙得着和便应空少好相间量差都教看")
POLYPHONES |= set("结解假率曾乐传转载似强朝角卡兴几给切系会没约分正")
# 子: a neutral suffix (桌子) or a full third tone (电子, not 垫子). 一 and 不 change tone with
# the next syllable (一次 yí, 一千 yì, 十一 yī; 不是 bú, 不能 bù): each word is checked as said.
POLYPHONES |= set("子一不")

# Each word as a caller should hear it, one syllable per character (5: neutral tone).
READINGS = {
    "重听": "chong2 ting1",
    "重新": "chong2 xin1",
    "重置": "chong2 zhi4",
    "重庆": "chong2 qing4",
    "余额为": "yu2 e2 wei2",
    "密码为": "mi4 ma3 wei2",
    "时间为": "shi2 jian1 wei2",
    "约为": "yue1 wei2",
    "为您": "wei4 nin2",
    "为保护": "wei4 bao3 hu4",
    "约": "yue1",
    "银行": "yin2 hang2",
    "还可以": "hai2 ke3 yi3",
    "井号键": "jing3 hao4 jian4",
    "星号键": "xing1 hao4 jian4",
    "号码": "hao4 ma3",
    "卡号": "ka3 hao4",
    "尾号": "wei3 hao4",
    "身份证号": "shen1 fen4 zheng4 hao4",
    "记录了": "ji4 lu4 le5",
    "处理中": "chu3 li3 zhong1",
    "处理": "chu3 li3",
    "数字": "shu4 zi4",
    "基数": "ji1 shu4",
    "次数": "ci4 shu4",
    "险种": "xian3 zhong3",
    "更早": "geng4 zao3",
    "更多": "geng4 duo1",
    "当地": "dang1 di4",
    "当年": "dang4 nian2",
    "改革当年": "gai3 ge2 dang4 nian2",
    "电子": "dian4 zi3",
    "长时间": "chang2 shi2 jian1",
    "本地": "ben3 di4",
    "参加": "can1 jia1",
    "参考": "can1 kao3",
    "西藏": "xi1 zang4",
    "宁夏": "ning2 xia4",
    "辽宁": "liao2 ning2",
    "内蒙古": "nei4 meng3 gu3",
    "和缴费": "he2 jiao3 fei4",
    "渠道和": "qu2 dao4 he2",
    "密码和": "mi4 ma3 he2",
    "参保": "can1 bao3",
    "卡面": "ka3 mian4",
    "集中": "ji2 zhong1",
    "缴费期": "jiao3 fei4 qi1",
    "等待期": "deng3 dai4 qi1",
    "时间": "shi2 jian1",
    "结束": "jie2 shu4",
    "分钟": "fen1 zhong1",
    "百分之": "bai3 fen1 zhi1",
    "社保卡": "she4 bao3 ka3",
    "银行卡": "yin2 hang2 ka3",
    "转接": "zhuan3 jie1",
    "切换": "qie4 huan4",
    "系统": "xi4 tong3",
    "社会": "she4 hui4",
    "没有": "mei2 you3",
    "正在": "zheng4 zai4",
    "正确": "zheng4 que4",
    "井号": "jing3 hao4",
    "星号": "xing1 hao4",
    "卡上": "ka3 shang4",
    "卡后": "ka3 hou4",
    "张卡": "zhang1 ka3",
    "解除": "jie3 chu2",
    "挂失了": "gua4 shi1 le5",
    "相同": "xiang1 tong2",
    "正忙": "zheng4 mang2",
    "日期": "ri4 qi1",
    "号中": "hao4 zhong1",
    # 一: yí before a fourth tone, yì before the others, yī counting, in dates and after 按.
    "一次": "yi2 ci4",
    "一次性": "yi2 ci4 xing4",
    "一致": "yi2 zhi4",
    "一个": "yi2 ge4",
    "一般": "yi4 ban1",
    "下一年": "xia4 yi4 nian2",
    "上一级": "shang4 yi4 ji2",
    "下一位": "xia4 yi2 wei4",
    "一遍": "yi2 bian4",
    "那一年": "na4 yi4 nian2",
    "一二三四五六": "yi1 er4 san1 si4 wu3 liu4",
    "按一": "an4 yi1",
    # 不: bú before a fourth tone, else bù.
    "不是": "bu2 shi4",
    "不正确": "bu2 zheng4 que4",
    "不要": "bu2 yao4",
    "不设": "bu2 she4",
    "不再": "bu2 zai4",
    "不用": "bu2 yong4",
    "不能": "bu4 neng2",
    "不超过": "bu4 chao1 guo4",
    "不低于": "bu4 di1 yu2",
    "不随": "bu4 sui2",
    "不一致": "bu4 yi2 zhi4",
    "对不起": "dui4 bu4 qi3",
}
# Clips numbers and times are assembled from say one character: its reading in a value.
CLIPS = {"中": "zhong1", "角": "jiao3", "分": "fen1", "点": "dian3", "两": "liang3", "幺": "yao1"}
CLIPS |= {"一": "yi1", "子": "zi3"}
# The clip of 一 in the tones a number gives it (一万 yí, 一千 yì): picked where it is assembled.
SANDHI_CLIPS = {"clip_yi_2": "yi2", "clip_yi_4": "yi4"}
PAUSE_MARKS = {",", ".", ";", "?"}


def heard(text):
    """Pair each Han character of a text with the syllable tts.runs gives it."""
    text = tts.AFTER_HAN_DIGITS.sub(lambda m: m.group().translate(tts.ZH_DIGITS), text)
    han = [c for c in "".join(tts.HAN.findall(tts.plain(text))) if c not in tts.PAUSES]
    syllables = [
        s
        for voice, spoken in tts.runs(text)
        if voice == "cmn-latn-pinyin"
        for s in spoken.split()
        if s not in PAUSE_MARKS
    ]
    assert len(han) == len(syllables), f"{text!r}: {syllables}"
    return "".join(han), syllables


def recorded_texts():
    """Every text rendered to audio in Mandarin: prompts, their pieces, and the clips."""
    return sorted(audio.items(load_prompts(), "zh").items())


@pytest.mark.parametrize(("key", "text"), recorded_texts())
def test_every_polyphone_in_a_prompt_is_read_right(key, text):
    han, syllables = heard(text)
    if key in SANDHI_CLIPS:
        assert (han, syllables) == ("一", [SANDHI_CLIPS[key]])
        return
    if han in CLIPS:
        assert syllables == [CLIPS[han]]
        return
    covered = set()
    for word, reading in READINGS.items():
        for match in re.finditer(re.escape(word), han):
            said = " ".join(syllables[match.start() : match.end()])
            assert said == reading, f"{key}: {word} is read {said}, not {reading}"
            covered |= set(range(match.start(), match.end()))
    for index, char in enumerate(han):
        if char in POLYPHONES:
            assert index in covered, (
                f"{key}: {han[max(0, index - 2) : index + 3]!r} has the polyphone {char}"
                f" (read {syllables[index]}); add its word to READINGS"
            )


@pytest.mark.parametrize(
    ("text", "reading"),
    (
        ("重听请按1", "chong2 ting1 qing3 an4 yi1"),
        ("如需重置密码", "ru2 xu1 chong2 zhi4 mi4 ma3"),
        ("您的余额为十元", "nin2 de5 yu2 e2 wei2 shi2 yuan2"),
        ("卡号为九位", "ka3 hao4 wei2 jiu3 wei4"),
        ("标准为每月", "biao1 zhun3 wei2 mei3 yue4"),
        ("正在为您转接", "zheng4 zai4 wei4 nin2 zhuan3 jie1"),
        ("改革当年", "gai3 ge2 dang4 nian2"),
        ("电子社保卡", "dian4 zi3 she4 bao3 ka3"),
        ("长时间没有按键", "chang2 shi2 jian1 mei2 you3 an4 jian4"),
        # 一 as a number says it: yì before 千/百/元, yí before 万/次, yī as a digit or ones.
        ("一千一百元", "yi4 qian1 yi4 bai3 yuan2"),
        ("一万零一元", "yi2 wan4 ling2 yi1 yuan2"),
        ("二十一元一角", "er4 shi2 yi1 yuan2 yi4 jiao3"),
        ("一百一十元", "yi4 bai3 yi1 shi2 yuan2"),
        ("十一万", "shi2 yi1 wan4"),
        ("二〇二一年一月一日", "er4 ling2 er4 yi1 nian2 yi1 yue4 yi1 ri4"),
        ("下午一点", "xia4 wu3 yi1 dian3"),
        ("第一", "di4 yi1"),
        ("请按1，重听", "qing3 an4 yi1 , chong2 ting1"),
        ("还可以尝试一次。", "hai2 ke3 yi3 chang2 shi4 yi2 ci4 ."),
        ("现在不是人工服务时间", "xian4 zai4 bu2 shi4 ren2 gong1 fu2 wu4 shi2 jian1"),
        ("两次输入的新密码不一致", "liang3 ci4 shu1 ru4 de5 xin1 mi4 ma3 bu4 yi2 zhi4"),
        ("差不多", "cha4 bu5 duo1"),
    ),
)
def test_phrases_with_two_readings(text, reading):
    spoken = " ".join(s for voice, part in tts.runs(text) for s in part.split())
    assert spoken == reading


def test_a_reading_written_after_a_character_is_said():
    assert tts.runs("一[yi2]") == [("cmn-latn-pinyin", "yi2")]
    assert tts.plain("一[yi4]千") == "一千"


@pytest.mark.parametrize(
    ("text", "clauses"),
    (
        ("查余额请按1，缴费记录请按2。", [("查余额请按1，", 250), ("缴费记录请按2。", 500)]),
        ("请按井号键结束；身份证", [("请按井号键结束；", 250), ("身份证", 0)]),
        ("For English, press 9.", [("For English,", 250), ("press 9.", 500)]),
        ("{month}: your share", [("{month}:", 250), ("your share", 0)]),
        ("about 1.5 yuan", [("about 1.5 yuan", 0)]),
        ("，个人缴费", [("，", 250), ("个人缴费", 0)]),
    ),
)
def test_clauses_end_at_marks_with_their_pause(text, clauses):
    assert tts.clauses(text) == clauses


def test_the_readings_do_not_change_pypinyin_for_anyone_else():
    tts.runs("余额为")
    assert lazy_pinyin("余额为", style=Style.TONE3) == ["yu2", "e2", "wei4"]


def test_latin_runs_keep_their_own_voice():
    assert tts.runs("For English, press 9. 普通话请按9") == [
        ("en-us", "For English, press 9."),
        ("cmn-latn-pinyin", "pu3 tong1 hua4 qing3 an4 jiu3"),
    ]
