"""Image-only versions of processors that insist on a video processor, so they work without torchvision.

Why: ``Qwen2_5_VLProcessor``, ``Qwen2VLProcessor``, ``Qwen3VLProcessor`` and ``InternVLProcessor`` require a video
processor, and transformers' video processors need torchvision, which must not be installed on the CPU
machines (the README's set-up; ``AutoProcessor`` then fails with "Can't load video processor"). The subclass made
by :func:`image_only` takes the image processor, tokenizer and chat template only; everything else is the real
class's code. Saved folders record the real processor class, so a machine with torchvision loads them with
plain ``AutoProcessor``.
"""

from __future__ import annotations

import functools
import inspect
import json
from pathlib import Path


@functools.cache
def image_only(base: type) -> type:
    """A subclass of processor class ``base`` whose only sub-processors are the image processor and tokenizer.

    ``ProcessorMixin`` derives a processor's parts from its ``__init__`` signature, so the subclass declares
    just those two and hands ``None`` for the video processor to the real ``__init__``.
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        base.__init__(self, image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    def to_dict(self, *args, **kwargs):
        out = base.to_dict(self, *args, **kwargs)
        out["processor_class"] = base.__name__
        return out

    def save_pretrained(self, save_directory, *args, **kwargs):
        result = base.save_pretrained(self, save_directory, *args, **kwargs)
        _record_processor_class(save_directory, base.__name__)
        return result

    # The real signature minus the video processor: ProcessorMixin reads it to know the parts and which
    # settings (InternVL's image_seq_length, ...) to save.
    signature = inspect.signature(base.__init__)
    __init__.__signature__ = signature.replace(
        parameters=[p for name, p in signature.parameters.items() if name != "video_processor"]
    )
    settings = {
        name
        for name, p in signature.parameters.items()
        if p.kind is p.POSITIONAL_OR_KEYWORD
        and name not in ("self", "image_processor", "tokenizer", "video_processor")
    }

    @classmethod
    def from_args_and_dict(cls, args, processor_dict, **kwargs):
        # ProcessorMixin would read the accepted settings from __init__'s code object, which has only **kwargs.
        return_unused = kwargs.pop("return_unused_kwargs", False)
        merged = {**processor_dict, **kwargs}
        processor = cls(*args, **{k: v for k, v in merged.items() if k in settings})
        unused = {k: v for k, v in merged.items() if k not in settings}
        return (processor, unused) if return_unused else processor

    return type(
        f"{base.__name__}ImageOnly",
        (base,),
        {
            "__init__": __init__,
            "to_dict": to_dict,
            "save_pretrained": save_pretrained,
            "from_args_and_dict": from_args_and_dict,
            "__doc__": f"``{base.__name__}`` with images only (no video processor, no torchvision needed).",
        },
    )


def _record_processor_class(folder, real: str) -> None:
    """Sub-processor configs also record the processor class; point them at the real one."""
    for name in ("tokenizer_config.json", "preprocessor_config.json", "processor_config.json"):
        path = Path(folder) / name
        if not path.exists():
            continue
        config = json.loads(path.read_text())
        if "processor_class" in config:
            config["processor_class"] = real
            path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def saved_processor_class(folder) -> str | None:
    """The processor class a saved folder names, if any."""
    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        path = Path(folder) / name
        if path.exists():
            cls = json.loads(path.read_text()).get("processor_class")
            if cls:
                return cls
    return None
