"""The faithful reward: re-derived cases for every branch, and the 5 human trajectories' logged rewards."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from spear_envs.webshop.nouns import HeuristicNouns, get_noun_extractor
from spear_envs.webshop.reward import (
    attribute_matches, category_match, compute_reward, goal_option_items, normalize_color, option_matches,
    title_score, total_reward, type_reward,
)


def test_fuzzy_attribute_matching_is_lenient_like_thefuzz():
    assert attribute_matches(["essential oils"], ["essential oil"], "", [], "") == 1  # ratio 96
    assert attribute_matches(["x-large"], ["large"], "", [], "") == 1  # token subset -> 100
    assert attribute_matches(["cool powder snow"], ["powder snow"], "", [], "") == 1
    assert attribute_matches(["non slip"], ["slip resistant"], "", [], "") == 0


def test_attribute_substring_fallback_is_case_sensitive_on_the_goal_side():
    args = (["DUMMY_ATTR"], "Brand Non Slip Shoes", ["Rubber sole"], "Great for HIKING")
    assert attribute_matches(["non slip"], *args) == 1  # title lower-cased
    assert attribute_matches(["rubber sole"], *args) == 1  # bullets lower-cased
    assert attribute_matches(["hiking"], *args) == 1  # description lower-cased
    assert attribute_matches(["Hiking"], *args) == 0  # the goal side is not lower-cased
    assert attribute_matches(["memory foam"], *args) == 0


def test_normalize_color_takes_the_first_listed_colour_substring():
    assert normalize_color("navy blue") == "blue"  # 'blue' precedes 'navy' in the list
    assert normalize_color("dark wash") == "ash"  # substring, not token: upstream's quirk
    assert normalize_color("z2-pink") == "pink"
    assert normalize_color("10.5 wide") == "10.5 wide"
    assert normalize_color(("color", "navy blue")) == ("color", "navy blue")  # tuple: membership test


def test_options_count_only_selected_values_and_use_the_tuple_quirk_for_dict_goals():
    goal = {"color": "navy blue", "size": "8"}
    items = goal_option_items(goal)
    assert items == [("color", "navy blue"), ("size", "8")]
    assert option_matches(["navy blue", "8"], items) == 2
    assert option_matches(["8"], items) == 1  # the unselected colour group is a miss
    assert option_matches(["blue"], items) == 1  # 'blue' is a token of "('color', 'navy blue')"
    assert option_matches(["9"], items) == 0
    assert option_matches(["dark wash"], [("color", "dark wash")]) == 0  # normalises to 'ash': unwinnable
    assert option_matches(["z2-pink", "8"], ["pink", "8"]) == 2  # human goals: list of values
    assert option_matches(["7"], ["7.5"]) == 1  # thefuzz: token subset


def test_type_reward_override_order():
    assert type_reward(True, False, 0.5) == 1.0
    assert type_reward(False, True, 0.15) == 1.0
    assert type_reward(False, False, 0.3) == 1.0
    assert type_reward(False, False, 0.2) == 0.5  # not > 0.2
    assert type_reward(True, True, 0.05) == 0.1  # later rules override a query match
    assert type_reward(True, True, 0.0) == 0.0


def test_title_score_divides_by_the_goal_noun_list_with_duplicates():
    assert title_score(["shoe", "sole"], ["shoe", "shoe", "lace"]) == pytest.approx(1 / 3)
    assert title_score(["a"], []) == 0.2
    assert category_match("A › B › C", "A › B › D")
    assert not category_match("A › B", "A › C")


def test_total_reward_formula():
    assert total_reward(1.0, 1, 2, True, 1, 2) == 1.0
    assert total_reward(1.0, 0, 2, True, 1, 2) == 0.75
    assert total_reward(0.5, 2, 0, False, 2, 0) == pytest.approx(1 / 3)


def _product(**kw):
    base = dict(title="Acme Non Slip Running Shoes", bullets=("Rubber sole",), description="", attributes=("non slip",),
                query="men's running shoes", product_category="Clothing › Men › Shoes", price=39.0)
    base.update(kw)
    return SimpleNamespace(**base)


def _goal(**kw):
    base = dict(name="Acme Non Slip Running Shoes", query="men's running shoes", product_category="Clothing › Men › Shoes",
                attributes=("non slip", "rubber sole"), goal_options={"color": "black", "size": "9"}, price_upper=50.0)
    base.update(kw)
    return SimpleNamespace(**base)


def test_compute_reward_branches():
    nouns = HeuristicNouns()
    full = compute_reward(_product(), _goal(), {"color": "black", "size": "9"}, nouns)
    assert full.score == 1.0 and full.r_type == 1.0 and full.r_att == 1.0 and full.r_option == 1.0
    pricey = compute_reward(_product(price=50.01), _goal(), {"color": "black", "size": "9"}, nouns)
    assert pricey.score == pytest.approx(4 / 5) and not pricey.r_price
    other = compute_reward(_product(title="Garden Hose", query="garden hoses", product_category="Garden › Hoses",
                                    bullets=(), attributes=("DUMMY_ATTR",)),
                           _goal(), {}, nouns)
    assert other.title_score == 0.0 and other.r_type == 0.0 and other.score == 0.0


def test_noun_extractor_choice_is_validated():
    assert get_noun_extractor("heuristic").name == "heuristic"
    with pytest.raises(ValueError, match="noun_extractor"):
        get_noun_extractor("bert")
    assert "shoes" in HeuristicNouns().nouns("Acme Breathable Running Shoes for Men")
    assert "breathable" not in HeuristicNouns().nouns("Acme Breathable Running Shoes for Men")


def _trajectories(shared_dir):
    folder = shared_dir / "data" / "webshop" / "human_trajectories"
    if not folder.is_dir():
        pytest.skip("human trajectories are absent from ../shared")
    out = []
    for path in sorted(folder.glob("*.jsonl")):
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        out.append((path.name, records[-1]))
    assert len(out) == 5
    return out


def test_golden_human_trajectories_recompute_the_logged_reward(shared_dir):
    """Recompute each final reward from its logged breakdown, and re-derive r_option, r_price, r_type."""
    for name, done in _trajectories(shared_dir):
        assert done["page"] == "done", name
        goal, info, content = done["goal"], done["reward_info"], done["content"]
        n_att, n_opt = len(goal["attributes"]), len(goal["goal_options"])
        # r_price and r_option from the logged purchase, with our functions
        assert (content["price"] <= goal["price_upper"]) == info["r_price"], name
        if n_opt:
            got = option_matches(list(content["options"].values()), goal_option_items(goal["goal_options"]))
            assert got / n_opt == pytest.approx(info["r_option"]), name
        else:
            assert "r_option" not in info
        # r_type from its logged signals, with our override rules
        assert type_reward(info["query_match"], info["category_match"], info["title_score"]) == info["r_type"], name
        # the final formula
        att = round(info["r_att"] * n_att)
        opt = round((info.get("r_option") or 0) * n_opt)
        expected = total_reward(info["r_type"], att, opt, info["r_price"], n_att, n_opt)
        assert expected == pytest.approx(done["reward"]), name
