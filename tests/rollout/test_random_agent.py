"""The random agent fills template actions (WebShop's search bar) with words from its prompt."""

from spear_train.rollout.agents import RandomAgent, Turn


def _turn(actions):
    return Turn(slot=0, messages=[{"role": "user", "content": "Your task: red running shoes size nine"}],
                admissible_actions=actions)


def test_template_action_gets_words_from_the_prompt():
    [reply] = RandomAgent(seed=1).act([_turn(["search[<your query>]"])])
    query = reply.text.split("<action>")[1].split("</action>")[0]
    assert query.startswith("search[") and "<" not in query
    words = query[len("search["):-1].split()
    assert 3 <= len(words) <= 6
    assert set(words) <= {"your", "task", "red", "running", "shoes", "size", "nine"}


def test_plain_actions_are_chosen_as_listed_and_seeded():
    actions = ["click[item a]", "click[item b]", "click[next >]"]
    a = [RandomAgent(seed=3).act([_turn(actions)])[0].text for _ in range(3)]
    assert len(set(a)) == 1
    assert any(x in a[0] for x in actions)
