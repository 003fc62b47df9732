"""Micro models (~0.1-0.3 M parameters) of every supported family, built from configs with no download.

They exercise the one code path real checkpoints take (``load_policy``, the processors, generation, frames)
in tests and CI: Qwen2.5-VL, Qwen2-VL, Qwen3-VL, InternVL3 (transformers-native), SmolVLM/Idefics3 and LLaVA.
Processors that insist on a video processor are built image-only (:mod:`grit.models.processor`).
"""

from __future__ import annotations

from pathlib import Path

from grit.models.tiny import TinySpec, build_tiny, chat_template, mrope_section

IMAGE = 112  # px; 8 x 8 patches of 14

INTERNVL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<IMG_CONTEXT>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
IDEFICS3_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}:"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)
LLAVA_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] | upper }}: "
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    " {% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def _tokenizer(extra_special: tuple[str, ...] = (), named_special: dict[str, str] | None = None):
    from grit.models.tokenizer import train_tokenizer

    return train_tokenizer(vocab_size=512, max_number=255, extra_special=extra_special, named_special=named_special)


def _text(tokenizer, model_type: str | None = None, **extra) -> dict:
    ids = tokenizer.convert_tokens_to_ids
    config = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 2048,
        "bos_token_id": ids("<|endoftext|>"),
        "eos_token_id": ids("<|im_end|>"),
        "pad_token_id": ids("<|endoftext|>"),
        **extra,
    }
    if model_type:
        config["model_type"] = model_type
    return config


def _finish(model, tokenizer, never: list[str]):
    from transformers import GenerationConfig

    ids = tokenizer.convert_tokens_to_ids
    model.generation_config = GenerationConfig(
        eos_token_id=[ids("<|im_end|>"), ids("<|endoftext|>")],
        pad_token_id=ids("<|endoftext|>"),
        suppress_tokens=[ids(t) for t in never],
    )
    return model


def build_qwen2_vl():
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from grit.models.processor import image_only

    tok = _tokenizer()
    ids = tok.convert_tokens_to_ids
    config = Qwen2VLConfig(
        text_config=_text(
            tok, rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": mrope_section(32)}
        ),
        vision_config={"depth": 2, "embed_dim": 32, "hidden_size": 64, "mlp_ratio": 2, "num_heads": 2},
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )
    model = _finish(
        Qwen2VLForConditionalGeneration(config), tok, ["<|image_pad|>", "<|video_pad|>", "<|vision_start|>"]
    )
    ip = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=IMAGE * IMAGE)
    return model, image_only(Qwen2VLProcessor)(ip, tok, chat_template=chat_template())


def build_qwen3_vl():
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from grit.models.processor import image_only

    tok = _tokenizer()
    ids = tok.convert_tokens_to_ids
    rope = {"rope_type": "default", "rope_theta": 5e6, "mrope_section": [6, 5, 5], "mrope_interleaved": True}
    config = Qwen3VLConfig(
        text_config=_text(tok, head_dim=32, rope_parameters=rope),
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "patch_size": 16,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )
    model = _finish(
        Qwen3VLForConditionalGeneration(config), tok, ["<|image_pad|>", "<|video_pad|>", "<|vision_start|>"]
    )
    ip = Qwen2VLImageProcessorPil(patch_size=16, min_pixels=64 * 64, max_pixels=128 * 128)
    from importlib.resources import files

    template = (files("trl") / "chat_templates" / "qwen3_vl.jinja").read_text()
    return model, image_only(Qwen3VLProcessor)(ip, tok, chat_template=template)


def build_internvl():
    from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    from grit.models.processor import image_only

    attrs = {
        "start_image_token": "<img>",
        "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>",
    }
    tok = _tokenizer(("<box>", "</box>", "<ref>", "</ref>", "<quad>", "</quad>"), attrs)
    config = InternVLConfig(
        vision_config={
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "image_size": [IMAGE, IMAGE],
            "patch_size": [14, 14],
        },
        text_config=_text(tok, "qwen2"),
        image_token_id=tok.context_image_token_id,
        image_seq_length=16,
        downsample_ratio=0.5,
    )
    model = _finish(InternVLForConditionalGeneration(config), tok, ["<IMG_CONTEXT>", "<img>", "</img>"])
    ip = GotOcr2ImageProcessorPil(size={"height": IMAGE, "width": IMAGE}, crop_to_patches=False)
    return model, image_only(InternVLProcessor)(ip, tok, image_seq_length=16, chat_template=INTERNVL_TEMPLATE)


def build_idefics3():
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    tok = _tokenizer(("<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"))
    config = Idefics3Config(
        vision_config={
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "image_size": IMAGE,
            "patch_size": 14,
        },
        text_config=_text(tok, "llama"),
        scale_factor=2,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        tie_word_embeddings=True,
    )
    model = _finish(
        Idefics3ForConditionalGeneration(config), tok, ["<image>", "<fake_token_around_image>", "<global-img>"]
    )
    ip = Idefics3ImageProcessorPil(
        do_image_splitting=False, size={"longest_edge": IMAGE}, max_image_size={"longest_edge": IMAGE}
    )
    return model, Idefics3Processor(ip, tok, image_seq_len=16, chat_template=IDEFICS3_TEMPLATE)


def build_llava():
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tok = _tokenizer(("<image>",))
    config = LlavaConfig(
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "image_size": IMAGE,
            "patch_size": 14,
            "projection_dim": 32,
        },
        text_config=_text(tok, "llama"),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        tie_word_embeddings=True,
    )
    model = _finish(LlavaForConditionalGeneration(config), tok, ["<image>"])
    ip = CLIPImageProcessorPil(size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE})
    processor = LlavaProcessor(
        ip,
        tok,
        patch_size=14,
        vision_feature_select_strategy="default",
        chat_template=LLAVA_TEMPLATE,
        num_additional_image_tokens=1,
    )
    return model, processor


BUILDERS = {
    "qwen2_5_vl": lambda: build_tiny(TinySpec(size="micro")),
    "qwen2_vl": build_qwen2_vl,
    "qwen3_vl": build_qwen3_vl,
    "internvl": build_internvl,
    "idefics3": build_idefics3,
    "llava": build_llava,
}


def save_micro(family: str, out: str | Path, seed: int = 0) -> Path:
    """Build the micro model of ``family`` (seeded) and save it with its processor."""
    import torch

    if family not in BUILDERS:
        raise KeyError(f"no micro model for family {family!r}; families: {', '.join(BUILDERS)}")
    torch.manual_seed(seed)
    model, processor = BUILDERS[family]()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
