"""Game-trained byte-level BPE tokenizers for the built-in tiny policies (docs/models.md,
'The tiny policy').

One tokenizer per environment, trained on that environment's own rendered prompts and responses. The
game language is small (ALFWorld has ~550 words), so a 2,048-entry request usually stops far below
that: merges never cross the byte-level pre-tokenizer's word boundaries.

Token layout (fixed, so ids never depend on the training text):

* ids 0..2 are the ChatML special tokens :data:`SPECIAL_TOKENS` (``<|endoftext|>`` is padding,
  ``<|im_end|>`` ends every turn and is the EOS);
* then the 256 byte symbols and the learned merges;
* last, the tag tokens :data:`TAG_TOKENS` (``<think>``, ``<action>``, ``<tool_call>``, ...). They are
  *added, non-special* tokens: always one id each, and kept by ``decode(..., skip_special_tokens=True)``,
  which the rollout uses before parsing.

Reload trap (docs/models.md, 'Tokenizer reload trap'): ``AutoTokenizer.from_pretrained(checkpoint)`` can pick a
model-specific tokenizer class from ``config.json`` that pre-tokenizes differently. :func:`load_tokenizer`
therefore constructs :class:`~transformers.PreTrainedTokenizerFast` from ``tokenizer.json`` directly, and
:func:`check_probe` compares a saved probe encoding against the reloaded tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD_TOKEN, BOS_TOKEN, EOS_TOKEN = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN)
#: Tags the envs, the prompt builders and the math tool use. One token each, not "special".
TAG_TOKENS: tuple[str, ...] = (
    "<think>", "</think>", "<action>", "</action>",
    "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>",
)

#: ChatML, as Qwen2 and SmolLM2 use it. A ``tool`` message is shown as a user turn wrapping
#: ``<tool_response>`` (the Qwen convention); ``tools`` (optional) are listed in a system turn.
CHATML_TEMPLATE = (
    "{% if tools %}<|im_start|>system\nYou can call these tools:"
    "{% for tool in tools %}{{ '\\n' }}{{ tool | tojson }}{% endfor %}<|im_end|>\n{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'tool' %}"
    "<|im_start|>user\n<tool_response>\n{{ message['content'] }}\n</tool_response><|im_end|>\n"
    "{% else %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

PROBE_FILE = "tokenizer_probe.json"
PROBE_TEXT = (
    "<|im_start|>user\nYou are in the middle of a room. Your task is to: put a clean mug in coffeemachine."
    "<|im_end|>\n<|im_start|>assistant\n<think></think><action>go to countertop 1</action><|im_end|>\n"
    " x=3**2; print(x)  naïve café 12.5% \u00e9\u4e2d"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048, min_frequency: int = 2,
                    split_digits: bool = False) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``texts`` and wrap it with the ChatML template and fixed special tokens.

    Deterministic for the same texts in the same order. ``vocab_size`` is an upper bound. With
    ``split_digits`` every digit is its own token (as in Llama and Qwen tokenizers): a number is copied
    digit by digit with ten tokens instead of one token per number the corpus happened to merge.
    """
    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                         if split_digits else byte_level)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_without_tags(texts), trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    return wrap_tokenizer(tok)


def wrap_tokenizer(tok: Tokenizer) -> PreTrainedTokenizerFast:
    """A transformers tokenizer around a trained ``tokenizers.Tokenizer``, with ChatML and special tokens."""
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=None,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.spear_bpe = True
    return fast


def is_game_tokenizer(tokenizer) -> bool:
    """True for tokenizers made by :func:`train_tokenizer` or :func:`load_tokenizer`."""
    return getattr(tokenizer, "spear_bpe", False)


def _without_tags(texts: Iterable[str]) -> Iterable[str]:
    """Training text with tag and special tokens removed (they get their own ids, not merges)."""
    for text in texts:
        for tag in TAG_TOKENS + SPECIAL_TOKENS:
            text = text.replace(tag, " ")
        yield text


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, folder: str | Path) -> None:
    """Save a game-trained ``tokenizer`` (``save_pretrained`` files) plus its probe encoding."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    write_probe(tokenizer, folder, kind=SPEAR_BPE)


SPEAR_BPE = "spear-bpe"


def write_probe(tokenizer, folder: str | Path, kind: str) -> None:
    """Record how ``tokenizer`` encodes :data:`PROBE_TEXT`, so a reload can be checked (:func:`check_probe`).

    ``kind`` is ``"spear-bpe"`` for our game-trained tokenizers (reloaded by :func:`load_tokenizer`)
    and anything else for tokenizers that ``AutoTokenizer`` reloads.
    """
    probe = {"kind": kind, "text": PROBE_TEXT, "ids": tokenizer.encode(PROBE_TEXT, add_special_tokens=False)}
    (Path(folder) / PROBE_FILE).write_text(json.dumps(probe) + "\n")


def is_spear_tokenizer(folder: str | Path) -> bool:
    """True when ``folder`` holds a game-trained tokenizer saved by :func:`save_tokenizer`."""
    path = Path(folder) / PROBE_FILE
    if not (path.is_file() and (Path(folder) / "tokenizer.json").is_file()):
        return False
    return json.loads(path.read_text()).get("kind") == SPEAR_BPE


def load_tokenizer(folder: str | Path) -> PreTrainedTokenizerFast:
    """Reload a tokenizer saved by :func:`save_tokenizer` with exactly its saved ids (no reload trap)."""
    folder = Path(folder)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    fast = wrap_tokenizer(tok)
    config_path = folder / "tokenizer_config.json"
    if config_path.is_file():
        template = json.loads(config_path.read_text()).get("chat_template")
        if template:
            fast.chat_template = template
    if (folder / "chat_template.jinja").is_file():
        fast.chat_template = (folder / "chat_template.jinja").read_text()
    check_probe(fast, folder)
    return fast


def check_probe(tokenizer, folder: str | Path) -> None:
    """Raise ``ValueError`` if ``tokenizer`` encodes the saved probe text to other ids than at save time."""
    path = Path(folder) / PROBE_FILE
    if not path.is_file():
        return
    probe = json.loads(path.read_text())
    ids = tokenizer.encode(probe["text"], add_special_tokens=False)
    if ids != probe["ids"]:
        raise ValueError(
            f"the tokenizer loaded from {folder} encodes its probe text to different ids than when it "
            f"was saved ({len(ids)} vs {len(probe['ids'])} ids): the model would see other tokens than it "
            "was trained on (see docs/models.md, 'Tokenizer reload trap')"
        )
