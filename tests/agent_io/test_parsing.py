"""Every rule of action projection (docs/rollouts.md, 'Action parsing (format validity)'), with examples."""

from __future__ import annotations

import pytest

from spear_envs.agent_io.parsing import (
    ALFWORLD_FALLBACK_CHARS,
    WEBSHOP_FALLBACK_CHARS,
    ParsedAction,
    parse_action,
)

ALF = ALFWORLD_FALLBACK_CHARS


def test_fallback_lengths_match_the_reference():
    assert (ALFWORLD_FALLBACK_CHARS, WEBSHOP_FALLBACK_CHARS) == (30, 20)


def test_well_formed_output_is_valid_and_stripped():
    out = "<think>the mug is on the desk</think>\n<action>  go to desk 1 </action>"
    assert parse_action(out, ALF) == ParsedAction("go to desk 1", True)


def test_rule1_output_is_lower_cased():
    out = "<think>x</think><action>Take Mug 1 from Desk 1</action>"
    assert parse_action(out, ALF).action == "take mug 1 from desk 1"


def test_rule1_tags_are_found_case_insensitively():
    out = "<think>x</think><ACTION>look</Action>"
    assert parse_action(out, ALF) == ParsedAction("look", True)


def test_rule2_first_action_tags_win():
    out = "<think>x</think><action>open drawer 1</action> then <action>close drawer 1</action>"
    assert parse_action(out, ALF).action == "open drawer 1"


def test_rule2_missing_open_tag_falls_back_to_last_chars_lowercased():
    out = "<think>I will go</think> GO TO THE COUNTERTOP NUMBER ONE RIGHT NOW</action>"
    parsed = parse_action(out, ALF)
    assert parsed == ParsedAction(out.lower()[-30:], False)
    assert len(parsed.action) == 30


def test_rule2_missing_close_tag_is_invalid():
    out = "<think>x</think><action>look"
    assert parse_action(out, ALF) == ParsedAction(out.lower()[-30:], False)


def test_rule2_fallback_length_is_per_env():
    out = "no tags at all in this fairly long reply from the model"
    assert parse_action(out, WEBSHOP_FALLBACK_CHARS).action == out[-20:]
    assert parse_action("short", ALF).action == "short"


def test_rule2_close_before_open_gives_empty_action_as_reference():
    out = "<think>x</think></action> oops <action>look"
    assert parse_action(out, ALF) == ParsedAction("", True)


@pytest.mark.parametrize(
    "out",
    [
        "<action>look</action>",                      # no think at all
        "<think>reasoning <action>look</action>",     # no </think>
        "reasoning</think><action>look</action>",     # no <think>
        "<THINK>x</THINK><action>look</action>",      # think check is case-sensitive on the raw output
    ],
)
def test_rule3_think_tags_required_in_raw_output(out):
    assert parse_action(out, ALF) == ParsedAction("look", False)


def test_rule3_cjk_makes_invalid():
    out = "<think>我想</think><action>look</action>"
    assert parse_action(out, ALF) == ParsedAction("look", False)


def test_rule3_non_cjk_unicode_is_fine():
    out = "<think>café ✓</think><action>look</action>"
    assert parse_action(out, ALF).valid


def test_void_turn_is_not_a_validity_concern():
    # valid although nothing follows the last </think> (void is a separate flag, docs/algorithms.md 'Sample flags')
    assert parse_action("<action>x</action><think>y</think>", ALF) == ParsedAction("x", True)


def test_bad_inputs():
    with pytest.raises(TypeError, match="bytes"):
        parse_action(b"<action>x</action>", ALF)
    with pytest.raises(ValueError, match="fallback_chars"):
        parse_action("x", 0)
