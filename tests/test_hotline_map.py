"""`softphone map` on this hotline: three silences end in the goodbye (or, in agent hours, with
the agent), and nothing is flagged as a loop."""

import pytest

from softphone import crawl
from softphone import target as targets


@pytest.mark.parametrize(
    ("hours_later", "kind", "label"),
    # On hold the line's own waitUrl plays (no default music): the map names the queue.
    ((0, "hold", "queue:12333-agents"), (12, "end", "感谢您的来电，再见。")),
)
def test_three_silences_at_the_main_menu_end_the_call_and_nothing_is_flagged(
    app, clock, hours_later, kind, label
):
    clock.advance(hours=hours_later)  # 11:00 in Beijing, then 23:00: no agent
    found = crawl.Crawler(targets.in_process(app), max_requests=1000).crawl()
    assert not found.truncated
    assert found.findings() == []
    names, states = found.names(), found.states
    after = {(source, given): target for source, given, target in found.edges}
    entry = next(iter(states))
    reprompt = after[entry, "silence"]  # the first silence: "no input", and the menu again
    assert states[reprompt].label.startswith("对不起，没有收到您的按键。")
    assert after[reprompt, "silence"] == reprompt  # the second: heard again, a retry
    third = states[after[reprompt, "silence ×2"]]
    assert (third.kind, third.label) == (kind, label)
    assert f"  {names[reprompt]} --silence--> {names[reprompt]}  (heard again)" in found.text()
