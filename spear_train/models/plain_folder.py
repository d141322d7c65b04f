"""Plain transformers model folders: from a GGUF file, or from a folder that still carries a quantization config.

"Plain" means full-precision safetensors and a ``config.json`` without ``quantization_config``: the
folder ``from_pretrained`` loads, and ``save_pretrained`` writes again, with no quantizer involved.

transformers loads a GGUF file de-quantized to fp32 but keeps ``quantization_config: {quant_method:
gguf}`` in the model's config. A folder saved with that config loads as a GGUF-quantized model again,
and ``save_pretrained`` refuses those ("The model is quantized with gguf and is not serializable"), so
no training checkpoint of it could ever be written. Both builders here therefore construct the model
from a copy of the config without the quantization config and load the de-quantized weights into it;
:func:`check_plain` is the post-condition they end with.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

from spear_train.models.checksum import CHECKSUM_FILE, BuiltinModelError

#: Files of a model folder that :func:`rebuild_plain` writes itself rather than copying.
_MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json")


def plain_config(config):
    """A deep copy of a transformers ``config`` with ``quantization_config`` removed."""
    clean = copy.deepcopy(config)
    if hasattr(clean, "quantization_config"):
        delattr(clean, "quantization_config")
    return clean


def quantization_of(folder: Path) -> str | None:
    """The ``quant_method`` that ``folder/config.json`` declares (``"unknown"`` if unnamed), else ``None``."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise BuiltinModelError(f"{folder / 'config.json'} is missing or unreadable: {exc}") from None
    quant = config.get("quantization_config") if isinstance(config, dict) else None
    if quant is None:
        return None
    return str(quant.get("quant_method", "unknown")) if isinstance(quant, dict) else "unknown"


def check_plain(folder: Path) -> None:
    """Raise :class:`BuiltinModelError` unless ``folder`` has safetensors weights and no quantization config."""
    method = quantization_of(folder)
    if method is not None:
        raise BuiltinModelError(f"{folder / 'config.json'} declares a {method!r} quantization_config")
    if not any(folder.glob("*.safetensors")):
        raise BuiltinModelError(f"{folder} has no safetensors weights")


def gguf_to_plain(gguf_file: Path, out: Path) -> None:
    """De-quantize a GGUF causal LM (and its tokenizer) into the plain fp32 folder ``out``.

    ``out`` gets the model (``model.safetensors``, ``config.json``, ``generation_config.json``), the
    tokenizer files and ``tokenizer_probe.json``; checksums and provenance are the caller's.
    """
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise BuiltinModelError("reading GGUF files needs the `gguf` package: pip install gguf") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from spear_train.models.tokenizer import write_probe

    kwargs = {"gguf_file": gguf_file.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, dtype=torch.float32, **kwargs)
    model = type(loaded)(plain_config(loaded.config))
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    del loaded
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_probe(tokenizer, out, kind=f"gguf:{gguf_file.name}")
    check_plain(out)


def rebuild_plain(src: Path, out: Path) -> None:
    """Write ``src`` again as the plain fp32 folder ``out``, dropping a quantization config from its config.

    For folders whose weights are already de-quantized (safetensors of floating-point tensors) but whose
    ``config.json`` still declares a quantization, as an older SmolLM2 conversion wrote them. Every weight
    must be found and be floating point; tokenizer files and other extras are copied unchanged.

    Raises:
        BuiltinModelError: the weights are missing, mismatched or not floating point.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = plain_config(AutoConfig.from_pretrained(src))
    try:
        model, info = AutoModelForCausalLM.from_pretrained(
            src, config=config, dtype=torch.float32, output_loading_info=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise BuiltinModelError(f"cannot load the weights in {src}: {exc}") from None
    problems = {kind: sorted(map(str, found)) for kind, found in info.items() if found}
    if problems:
        raise BuiltinModelError(f"the weights in {src} do not fit its config: {problems}")
    if getattr(model, "hf_quantizer", None) is not None:
        raise BuiltinModelError(f"{src} still loads through a {type(model.hf_quantizer).__name__}")
    ints = [n for n, p in model.named_parameters() if not p.is_floating_point()]
    if ints:
        raise BuiltinModelError(f"{src} holds quantized (non-float) weights, e.g. {ints[0]}")
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        if path.name in _MODEL_FILES or path.name == CHECKSUM_FILE or path.suffix == ".safetensors":
            continue
        if path.is_dir():
            shutil.copytree(path, out / path.name)
        elif path.is_file():
            shutil.copy2(path, out / path.name)
    model.save_pretrained(out)
    check_plain(out)
