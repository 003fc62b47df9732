"""``grit infer``: ask one question about one image, print the chain and its boxes, draw them."""

from __future__ import annotations

from dataclasses import dataclass, field

from grit.cli.common import UsageError, check_output_file, image_output, parse, quiet_transformers
from grit.models.loading import device_field, dtype_field, frame_field
from grit.prompts import PROMPT_KINDS

HELP = "ask one question about one image and draw the chain's boxes"


@dataclass
class InferConfig:
    """``grit infer --model DIR --image IMAGE --question TEXT [--out PNG]``."""

    model: str = field(metadata={"help": "local model folder"})
    image: str = field(metadata={"help": "image file"})
    question: str = field(metadata={"help": "the question"})
    prompt: str = field(default="grounded", metadata={"help": "prompt kind", "choices": PROMPT_KINDS})
    max_new_tokens: int = field(default=256, metadata={"help": "generated tokens, at most", "min": 1})
    dtype: str | None = dtype_field()
    device: str = device_field()
    frame: str | None = frame_field()
    out: str | None = field(
        default=None, metadata={"help": "save the image with the boxes drawn here (.png added if no extension)"}
    )
    overwrite: bool = field(default=False, metadata={"help": "replace --out if it exists"})


def main(argv: list[str]) -> int:
    from grit.arguments import split_config

    (cfg,) = parse(argv, InferConfig, prog="grit infer", description=InferConfig.__doc__)
    if not cfg.question.strip():
        raise UsageError('--question is empty; ask a question about the image, e.g. --question "How many circles?"')
    try:
        cfg.question.encode("utf-8")
    except UnicodeEncodeError as e:  # argv bytes that are not UTF-8 arrive as lone surrogates
        raise UsageError(
            f"--question holds bytes that are not UTF-8 text (at character {e.start}); type it again in a UTF-8 "
            "terminal, or set LANG to a UTF-8 locale"
        ) from e
    quiet_transformers()
    from grit.data.images import ImageProblem, load_image
    from grit.infer import annotate, describe, infer
    from grit.models.generation import GenerationSettings, PromptTooLong, control_token_in, control_tokens
    from grit.models.loading import ModelLoadError, load_policy

    out = image_output(cfg.out) if cfg.out is not None else None
    if out:
        check_output_file(out, cfg.overwrite, {"--image": cfg.image, "--config": split_config(argv)[0]})
    try:
        image = load_image(cfg.image)
    except ImageProblem as e:
        raise UsageError(f"{e.message}; {e.fix}") from e
    try:
        policy = load_policy(cfg.model, dtype=cfg.dtype, device=cfg.device, frame=cfg.frame)
    except ModelLoadError as e:
        raise UsageError(str(e)) from e
    if token := control_token_in(cfg.question, control_tokens(policy)):
        raise UsageError(
            f"--question holds {token!r}, a control token of the model's chat template; remove it (the template adds "
            "the image and turn markers itself)"
        )
    settings = GenerationSettings(max_new_tokens=cfg.max_new_tokens, batch_size=1)
    try:
        result = infer(policy, image, cfg.question, cfg.prompt, settings)
    except PromptTooLong as e:
        raise UsageError(f"--question: {e}; shorten the question or lower --max_new_tokens") from e
    print(describe(result))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        annotate(image, result).save(out)
        print(f"wrote {out}")
    return 0
