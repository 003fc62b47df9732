"""Load a policy (model + processor + what grit must know about its family) from a local folder.

One code path serves the tiny model and real checkpoints. Offline (``HF_HUB_OFFLINE=1``, grit's default), a Hub
id fails at once with a message saying how to point at a local folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grit.boxes import FRAME_KINDS, QWEN_FACTOR, FrameSpec
from grit.data.schema import relative_hint
from grit.models.families import Family, family_of_model_type

DTYPES = ("float32", "bfloat16", "float16", "auto")  # what load_policy's dtype accepts
DEVICE_HELP = "where the model runs: auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda or cuda:N"


class ModelLoadError(RuntimeError):
    pass


def dtype_field():
    """The ``dtype`` option of the commands that load a model."""
    return field(default=None, metadata={"help": "model dtype (default: float32)", "choices": DTYPES})


def device_field():
    """The ``device`` option of the commands that load a model (checked by :func:`resolve_device`)."""
    return field(default="auto", metadata={"help": DEVICE_HELP})


def resolve_device(name: str):
    """The torch device ``name`` names ("auto": the first CUDA GPU when torch sees one, else the CPU); a name torch
    does not know, or a GPU this machine lacks, raises :class:`ModelLoadError` saying what to pass instead."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ModelLoadError(f"device {name!r} is not a device name; give auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        if not count:
            raise ModelLoadError(
                f"device {name}: torch (torch {torch.__version__}, {build}) sees no CUDA GPU here; "
                "pass --device cpu, or install a CUDA build of torch on a GPU machine"
            )
        if device.index is not None and device.index >= count:
            raise ModelLoadError(f"device {name}: torch sees {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    elif device.type != "cpu":
        raise ModelLoadError(f"device {name}: grit runs models on cpu or cuda; give auto, cpu, cuda or cuda:N")
    return device


# The vision side of the supported families (Qwen's visual tower and merger, LLaVA's and InternVL's tower and
# projector, Idefics3's vision model and connector), by module name.
VISION_MODULES = r".*(visual|vision_tower|vision_model|multi_modal_projector|mlp1|connector).*"


@dataclass
class LoraSpec:
    """LoRA through PEFT: ``target_modules="all-linear"`` with the vision side excluded adapts every linear layer of
    the language model (PEFT's "all-linear" alone takes the vision tower and projector too)."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: Any = "all-linear"
    exclude_modules: Any = VISION_MODULES

    def peft_config(self):
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            exclude_modules=self.exclude_modules,
            task_type="CAUSAL_LM",
        )


@dataclass
class Policy:
    model: Any
    processor: Any
    family: Family
    frame: FrameSpec
    path: str
    info: dict = field(default_factory=dict)

    @property
    def tokenizer(self):
        return getattr(self.processor, "tokenizer", self.processor)

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return self.family.stop_strings


def _first_line(error: BaseException) -> str:
    """An exception's type and the first line of its message (library messages run on for screens)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0].rstrip('.:')}" if text else type(error).__name__


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def looks_like_hub_id(path: str | os.PathLike) -> bool:
    """Whether ``path`` reads as a Hub id ``org/name`` and not as a local path: no leading ``/ . ~``, two parts,
    and no local folder named like its first part (a partial local path is a typo, not a download)."""
    text = str(path)
    return bool(HUB_ID.fullmatch(text)) and not Path(text.split("/")[0]).exists()


def check_model_folder(path: str | os.PathLike) -> None:
    """Raise :class:`ModelLoadError` (saying what to do) unless ``path`` is a saved model folder."""
    if not (Path(path).expanduser() / "config.json").is_file():
        _resolve(path)
        raise ModelLoadError(f"{path} is not a local model folder; grit runs offline: pass a saved model folder")


def _models_inside(folder: Path) -> list[Path]:
    """The saved models a run folder holds, its final one first: ``model/`` (``grit train``), ``grpo/model/`` (a
    quickstart), then other folders, the latest checkpoint first."""
    try:
        final = [m for m in (folder / "model", folder / "grpo" / "model") if (m / "config.json").is_file()]
        others = [c for c in folder.iterdir() if c not in final and (c / "config.json").is_file()]
    except OSError:  # an unreadable folder: no hint, the plain message
        return []
    step = lambda c: int(m.group(1)) if (m := re.fullmatch(r"checkpoint-(\d+)", c.name)) else -1  # noqa: E731
    return final + sorted(others, key=lambda c: (-step(c), c.name))


def _resolve(path: str | os.PathLike) -> str:
    p = Path(path).expanduser()
    if p.is_dir():
        if not (p / "config.json").exists():
            if inside := _models_inside(p):  # a run folder: its model/
                raise ModelLoadError(
                    f"{p} has no config.json, but {', '.join(str(c) for c in inside[:3])} "
                    f"{'holds a saved model' if len(inside) == 1 else 'hold saved models'}: pass that folder"
                )
            raise ModelLoadError(
                f"{p} has no config.json: it is not a saved model folder (make one with `grit model tiny --out DIR`"
                " or `save_pretrained`)"
            )
        return str(p)
    if p.exists():
        raise ModelLoadError(f"{p} is a file; pass the model's folder")
    if not looks_like_hub_id(path):
        raise ModelLoadError(
            f"model folder {p} does not exist; check the path{relative_hint(path)}, or build the tiny model with "
            "`grit model tiny --out DIR`"
        )
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise ModelLoadError(
            f"{path!r} is not a local folder and the Hub is offline (HF_HUB_OFFLINE=1). Download it on a machine with "
            f"network access (`hf download {path} --local-dir DIR`) and pass --model DIR, or build the tiny model "
            "with `grit model tiny --out DIR`."
        )
    return str(path)


def load_processor(path: str, trust_remote_code: bool = False):
    """``AutoProcessor`` where it works; where it fails for want of a video processor (no torchvision), the
    image-only version of the folder's processor class (:mod:`grit.models.processor`)."""
    import transformers
    from transformers import AutoProcessor

    from grit.models.processor import image_only, saved_processor_class

    try:
        return AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, ImportError) as e:
        name = saved_processor_class(path)
        base = getattr(transformers, name, None) if name else None
        failure: Exception = e
        if base is not None:
            try:
                return image_only(base).from_pretrained(path)
            except (OSError, ValueError, ImportError) as again:
                failure = again
        first = str(failure).split(". ")[0].rstrip(".")  # transformers goes on about the Hub, which grit never asks
        raise ModelLoadError(
            f"cannot load the processor of {path} ({first}): the folder needs the processor files `save_pretrained` "
            "writes (processor_config.json or preprocessor_config.json, and the tokenizer's); copy them again from "
            "where the model was saved"
        ) from failure


# The JSON files transformers, PEFT and grit read from a model folder (other JSON files there are not read).
MODEL_JSON = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "preprocessor_config.json",
    "processor_config.json",
    "video_preprocessor_config.json",
    "chat_template.json",
    "model.safetensors.index.json",
    "adapter_config.json",
    "grit_model.json",
)
_MODEL_SUFFIXES = (".json", ".safetensors", ".bin", ".jinja", ".txt", ".model")


def _check_files(folder: Path) -> None:
    """Refuse, naming the file and the fix, a model folder with a file of the model this user cannot read, or one of
    its JSON files (:data:`MODEL_JSON`) that is not JSON: transformers would fail later with a traceback, or say it
    cannot reach the Hub."""
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in _MODEL_SUFFIXES)
    except PermissionError as e:
        raise ModelLoadError(f"cannot list {folder} (permission denied); check the folder's permissions") from e
    for file in files:
        if not os.access(file, os.R_OK):
            raise ModelLoadError(f"cannot read {file} (permission denied); check the file's permissions")
        if file.name in MODEL_JSON:
            try:
                json.loads(file.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                where = f" (line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
                raise ModelLoadError(
                    f"{file} is not valid JSON{where}: {e}; copy it again from where the model was saved"
                ) from e


def frame_field():
    """The ``frame`` option of the commands that read a model's boxes (:func:`load_policy`'s ``frame``)."""
    return field(
        default=None,
        metadata={
            "help": "coordinate frame of the model's boxes, for a model trained to write another one than its "
            "family's (default: the family's; resized: pixels of the model's resized input, norm1000: 0-1000, "
            "relative: 0-1, original: the image's pixels)",
            "choices": FRAME_KINDS,
        },
    )


def frame_of(processor, family: Family, kind: str | None = None) -> FrameSpec:
    """The frame of ``kind`` (default: the family's) with the processor's resize settings (min/max pixels, patch x
    merge factor), where it has them."""
    kind = kind or family.frame_kind
    ip = getattr(processor, "image_processor", None)
    size = dict(getattr(ip, "size", None) or {})
    min_pixels = size.get("shortest_edge") or getattr(ip, "min_pixels", None)
    max_pixels = size.get("longest_edge") or getattr(ip, "max_pixels", None)
    if not (min_pixels and max_pixels):
        return FrameSpec(kind)
    factor = getattr(ip, "patch_size", 14) * getattr(ip, "merge_size", 2) or QWEN_FACTOR
    return FrameSpec(kind, int(min_pixels), int(max_pixels), int(factor))  # kept for another frame's comparison


def load_policy(
    path: str | os.PathLike,
    dtype: str | None = None,
    attn_implementation: str | None = None,
    device_map: Any = None,
    lora: LoraSpec | str | None = None,
    trust_remote_code: bool = False,
    device: str | None = None,
    frame: str | None = None,
) -> Policy:
    """Load model and processor. ``dtype``: "float32", "bfloat16", "float16" or "auto" (default float32);
    ``lora``: a :class:`LoraSpec` to add fresh adapters, or a folder holding saved adapters; ``device``: move the
    model there (:func:`resolve_device`; default: where transformers loads it, the CPU unless ``device_map``);
    ``frame``: the frame kind of the model's boxes (default: its family's)."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    target = resolve_device(device) if device is not None else None
    resolved = _resolve(path)
    if Path(resolved).is_dir():  # not a Hub id, which transformers downloads
        _check_files(Path(resolved))
    try:
        config = AutoConfig.from_pretrained(resolved, trust_remote_code=trust_remote_code)
    except Exception as e:  # a damaged or hand-edited config.json: a field of the wrong type, say
        raise ModelLoadError(
            f"cannot read the model config of {path}: {_first_line(e)}; fix config.json, or copy the folder again "
            "from where the model was saved"
        ) from e
    try:
        family = family_of_model_type(config.model_type)
    except KeyError as e:
        raise ModelLoadError(e.args[0]) from e
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if dtype:
        kwargs["dtype"] = dtype if dtype == "auto" else getattr(torch, dtype)
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if device_map is not None:
        kwargs["device_map"] = device_map
    from safetensors import SafetensorError

    try:
        model = AutoModelForImageTextToText.from_pretrained(resolved, **kwargs)
    except (OSError, SafetensorError) as e:  # no weights file, or one that is not a model's weights
        raise ModelLoadError(
            f"cannot load the weights in {path}: {str(e).rstrip('.')}. The folder needs the weights "
            "`save_pretrained` writes (model.safetensors, or its shards and their index); copy them again from where "
            "the model was saved"
        ) from e
    except Exception as e:  # weights of other sizes than config.json says, or a config no model can be built from
        raise ModelLoadError(
            f"cannot build the model in {path} from its config.json and weights ({_first_line(e)}): they do not fit "
            "together; copy the folder again from where the model was saved"
        ) from e
    processor = load_processor(resolved, trust_remote_code)
    if getattr(processor, "chat_template", "") is None:
        raise ModelLoadError(
            f"{path} has no chat template (chat_template.jinja, or chat_template.json in older folders), and grit's "
            "prompts are chat turns: copy it from where the model was saved"
        )
    try:  # a template that does not compile fails at the first prompt otherwise, after the data has been read
        processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "text", "text": "a"}]}], add_generation_prompt=True, tokenize=False
        )
    except Exception as e:
        raise ModelLoadError(
            f"the chat template of {path} cannot be used ({_first_line(e)}); copy chat_template.jinja (or "
            "chat_template.json) again from where the model was saved"
        ) from e
    if hasattr(processor, "tokenizer"):
        if not processor.tokenizer("a b")["input_ids"]:  # no tokenizer files: transformers loads an empty one
            raise ModelLoadError(
                f"{path} has no tokenizer (its tokenizer encodes nothing): the folder lacks the tokenizer files "
                "`save_pretrained` writes (tokenizer.json, tokenizer_config.json); copy them from where the model "
                "was saved"
            )
        processor.tokenizer.padding_side = "left"  # batched generation of a decoder-only model
    if isinstance(lora, LoraSpec):
        from peft import get_peft_model

        model = get_peft_model(model, lora.peft_config())
    elif lora:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(lora))
    if target is not None:
        model.to(target)
    info_path = Path(resolved) / "grit_model.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    return Policy(model, processor, family, frame_of(processor, family, frame), resolved, info)
