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
    "当年": "dang1 nian2",
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
}
# Clips numbers and times are assembled from say one character: its reading in a value.
CLIPS = {"中": "zhong1", "角": "jiao3", "分": "fen1", "点": "dian3", "两": "liang3", "幺": "yao1"}
PAUSE_MARKS = {",", ".", ";", "?"}


def heard(text):
    """Pair each Han character of a text with the syllable tts.runs gives it."""
    text = tts.AFTER_HAN_DIGITS.sub(lambda m: m.group().translate(tts.ZH_DIGITS), text)
    han = [c for c in "".join(tts.HAN.findall(text)) if c not in tts.PAUSES]
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
    ),
)
def test_phrases_with_two_readings(text, reading):
    assert " ".join(heard(text)[1]) == reading


def test_the_readings_do_not_change_pypinyin_for_anyone_else():
    tts.runs("余额为")
    assert lazy_pinyin("余额为", style=Style.TONE3) == ["yu2", "e2", "wei4"]


def test_latin_runs_keep_their_own_voice():
    assert tts.runs("For English, press 9. 普通话请按9") == [
        ("en-us", "For English, press 9."),
        ("cmn-latn-pinyin", "pu3 tong1 hua4 qing3 an4 jiu3"),
    ]
