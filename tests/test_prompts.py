import pytest

from ivr import actions
from ivr import dialog
from ivr.prompts import Phrase
from ivr.prompts import PromptError
from ivr.prompts import Prompts
from ivr.prompts import Ref
from ivr.prompts import load_prompts
from ivr.spoken import Value


def test_both_languages_have_the_same_keys_and_placeholders():
    prompts = load_prompts()
    prompts.check(set(dialog.PROMPTS) | set(actions.registry().prompts))
    assert prompts.keys("zh") == prompts.keys("en")


def test_values_are_read_for_the_ear_in_each_language():
    prompts = Prompts({"zh": {"p": "余额{amount}，{region}"}, "en": {"p": "{amount}, {region}"}})
    prompts.texts["zh"]["r"] = "北京市"
    prompts.texts["en"]["r"] = "Beijing"
    phrase = Phrase.of("p", amount=Value("amount", "2.02"), region=Ref("r"))
    assert prompts.text("zh", phrase) == "余额两元零二分，北京市"
    assert prompts.text("en", phrase) == "2 yuan and 2 fen, Beijing"


@pytest.mark.parametrize(
    ("texts", "message"),
    (
        ({"zh": {"a": "x"}, "en": {}}, "prompt 'a' is missing in prompts/en.toml"),
        ({"zh": {"a": "{n}"}, "en": {"a": "{m}"}}, "prompt 'a': placeholders differ"),
        ({"zh": {"a": "x"}, "en": {"a": "x", "b": "y"}}, "prompt 'b' is in one language file"),
    ),
)
def test_prompt_files_that_disagree_are_refused(texts, message):
    with pytest.raises(PromptError, match=message):
        Prompts(texts).check({"a"})


def test_no_prompt_text_in_python():
    """Mandarin belongs in prompts/*.toml; the spoken modules hold only numerals."""
    import pathlib
    import re

    for path in pathlib.Path("ivr").rglob("*.py"):
        if "spoken" in path.parts:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            code = line.split("#")[0]
            assert not re.search(r"[\u4e00-\u9fff]{3,}", code), f"{path}: {line.strip()}"
