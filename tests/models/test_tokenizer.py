from __future__ import annotations

import json

import pytest
from spear_train.models.tokenizer import (
    PROBE_FILE, PROBE_TEXT, SPECIAL_TOKENS, TAG_TOKENS, load_tokenizer, save_tokenizer,
    train_tokenizer,
)


def test_special_and_tag_tokens_have_fixed_single_ids(game_tokenizer):
    assert [game_tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2]
    for tag in TAG_TOKENS:
        assert len(game_tokenizer.encode(tag, add_special_tokens=False)) == 1
    assert game_tokenizer.eos_token == "<|im_end|>" and game_tokenizer.pad_token_id == 0


def test_decode_keeps_tags_but_skips_chatml_tokens(game_tokenizer):
    reply = "<think></think><action>open panel</action>"
    ids = game_tokenizer.encode(reply, add_special_tokens=False) + [game_tokenizer.eos_token_id]
    assert game_tokenizer.decode(ids, skip_special_tokens=True) == reply


def test_chat_template_is_chatml(game_tokenizer):
    text = game_tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                              add_generation_prompt=True)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_training_is_deterministic(toy_examples):
    from spear_train.sft.data import tokenizer_corpus

    a = train_tokenizer(tokenizer_corpus(toy_examples), vocab_size=512)
    b = train_tokenizer(tokenizer_corpus(toy_examples), vocab_size=512)
    assert a.get_vocab() == b.get_vocab()


def test_reload_gives_identical_ids(game_tokenizer, tmp_path):
    save_tokenizer(game_tokenizer, tmp_path)
    reloaded = load_tokenizer(tmp_path)
    for text in (PROBE_TEXT, "press the red button <action>look</action>\n\n  x"):
        assert reloaded.encode(text, add_special_tokens=False) == game_tokenizer.encode(text, add_special_tokens=False)
    assert reloaded.chat_template == game_tokenizer.chat_template


def test_tampered_probe_is_an_error(game_tokenizer, tmp_path):
    save_tokenizer(game_tokenizer, tmp_path)
    probe = json.loads((tmp_path / PROBE_FILE).read_text())
    probe["ids"] = probe["ids"][1:]
    (tmp_path / PROBE_FILE).write_text(json.dumps(probe))
    with pytest.raises(ValueError, match="Tokenizer reload trap"):
        load_tokenizer(tmp_path)


def test_split_digits_gives_one_token_per_digit_and_survives_reload(tmp_path):
    corpus = ["r, s = solve(x**2 - 345*x + (19), x); print(r**12 + s**12)"] * 40 + ["f(10) = 2024"] * 40
    merged = train_tokenizer(corpus, vocab_size=400)
    split = train_tokenizer(corpus, vocab_size=400, split_digits=True)
    assert any(len(t.strip("Ġ")) > 1 and t.strip("Ġ").isdigit() for t in merged.tokenize("x + 345 = 2024"))
    tokens = split.tokenize("x + 345 = 2024")
    assert [t.strip("Ġ") for t in tokens if t.strip("Ġ").isdigit()] == list("3452024")
    save_tokenizer(split, tmp_path)
    text = "f(10) = 321 and 2024"
    assert load_tokenizer(tmp_path).encode(text) == split.encode(text)
    assert split.decode(split.encode(text, add_special_tokens=False)) == text
