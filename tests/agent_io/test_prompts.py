"""Prompt builders: history window, admissible list, no-history fallback, registry lookup."""

from __future__ import annotations

import pytest

from spear_envs.agent_io import AgentMemory, AlfworldPrompt, WebshopPrompt, prompt_builder_for
from spear_envs.agent_io.prompts import page_without_instruction


def _alf_memory(steps: int) -> AgentMemory:
    info = {"task": "put a mug in desk", "admissible_actions": ["go to desk 1", "help", "look"]}
    mem = AgentMemory.start("You are in a room. Your task is to: put a mug in desk.", info)
    for k in range(steps):
        mem.record(f"action {k}", f"observation {k + 1}", info)
    return mem


def test_memory_bookkeeping_and_help_removed():
    mem = _alf_memory(3)
    assert mem.step == 3 and len(mem.observations) == 4
    assert mem.admissible_actions == ["go to desk 1", "look"]


def test_alfworld_first_step_shows_full_observation_and_commands():
    [msg] = AlfworldPrompt().messages(_alf_memory(0))
    assert msg["role"] == "user"
    assert "Your task is to: put a mug in desk." in msg["content"]
    assert "['go to desk 1', 'look']" in msg["content"]
    assert "'help'" not in msg["content"]
    assert "<think>" in msg["content"] and "<action>" in msg["content"]


def test_alfworld_history_window_keeps_last_two_pairs_with_absolute_numbers():
    text = AlfworldPrompt(history_length=2).messages(_alf_memory(4))[0]["content"]
    assert "You have taken 4 step(s)" in text
    assert "[Observation 3: 'observation 2', Action 3: 'action 2']" in text
    assert "[Observation 4: 'observation 3', Action 4: 'action 3']" in text
    assert "action 1'" not in text
    assert "Now at step 5, you see: observation 4" in text
    assert "Your task is to: put a mug in desk" in text


def test_history_length_zero_and_negative():
    text = AlfworldPrompt(history_length=0).messages(_alf_memory(2))[0]["content"]
    assert "[Observation" not in text
    with pytest.raises(ValueError, match="history_length"):
        AlfworldPrompt(history_length=-1)


WEB_OBS = "WebShop [SEP] Instruction: [SEP] i need red shoes under 30 dollars [SEP] Search"


def test_webshop_page_segments_drop_the_instruction():
    assert page_without_instruction(WEB_OBS) == "'WebShop' [SEP] 'Search'"


def test_webshop_prompt_lists_actions_and_task():
    info = {"task": "i need red shoes under 30 dollars", "admissible_actions": ["search[<your query>]"]}
    text = WebshopPrompt().messages(AgentMemory.start(WEB_OBS, info))[0]["content"]
    assert "Your task: i need red shoes under 30 dollars" in text
    assert "'search[<your query>]'" in text
    assert "Instruction:" not in text


def test_webshop_long_prompt_drops_history():
    info = {"task": "t", "admissible_actions": ["click[x]"]}
    mem = AgentMemory.start("start", info)
    mem.record("click[x]", "y" * 14_000, info)
    mem.record("click[x]", "final page", info)
    text = WebshopPrompt().messages(mem)[0]["content"]
    assert "[Observation" not in text and "final page" in text


def test_webshop_parse_uses_20_char_fallback():
    assert WebshopPrompt().parse("x" * 50).action == "x" * 20


def test_unknown_env_id_lists_known_ones():
    with pytest.raises(KeyError, match="spear/ALFWorld-v0"):
        prompt_builder_for("spear/Nope-v0")
