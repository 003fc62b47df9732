"""Micro models of every family: build, save, load with load_policy, identical logits, KV cache agreement,
frames that match the processor, and grit infer."""

import json

import pytest
import torch
from PIL import Image, ImageDraw

from grit.boxes import Frame
from grit.chain import parse, render
from grit.cli import main
from grit.grounding import frame_for, place_boxes
from grit.models.generation import GenerationSettings, generate
from grit.models.loading import ModelLoadError, load_policy, resolve_device
from grit.models.micro import BUILDERS

FAMILIES = list(BUILDERS)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("micro")
    built = {}
    for family in FAMILIES:
        torch.manual_seed(0)
        model, processor = BUILDERS[family]()
        out = root / family
        model.save_pretrained(out)
        processor.save_pretrained(out)
        built[family] = (model.eval(), out)
    return built


def _inputs(policy, question="How many red circles are there?", size=(112, 112)):
    text = policy.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    return policy.processor(text=[text], images=[Image.new("RGB", size, (30, 90, 200))], return_tensors="pt")


@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_identical_logits(saved, family):
    model, path = saved[family]
    policy = load_policy(path)
    assert policy.family.name == family
    inputs = _inputs(policy)
    with torch.no_grad():
        before = model(**inputs).logits
        after = policy.model.eval()(**inputs).logits
    assert torch.equal(before, after)


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_with_and_without_cache_agree(saved, family):
    policy = load_policy(saved[family][1])
    inputs = _inputs(policy)
    common = dict(max_new_tokens=12, do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.no_grad():
        cached = policy.model.generate(**inputs, use_cache=True, **common)
        uncached = policy.model.generate(**inputs, use_cache=False, **common)
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize("family", FAMILIES)
def test_generate_batched_equals_single(saved, family):
    policy = load_policy(saved[family][1])
    images = [Image.new("RGB", (112, 112), c) for c in ((200, 30, 30), (30, 200, 30), (30, 30, 200))]
    questions = ["How many red circles are there?", "Is there a blue square?", "How many red circles are there?"]
    one = generate(policy, images, questions, "grounded", GenerationSettings(max_new_tokens=10, batch_size=1))
    many = generate(policy, images, questions, "grounded", GenerationSettings(max_new_tokens=10, batch_size=8))
    assert one == many and len(one) == 3


@pytest.mark.parametrize("size", [(112, 112), (200, 100), (97, 301), (640, 480), (33, 57)])
def test_resized_frame_is_the_processors_resize(saved, size):
    policy = load_policy(saved["qwen2_5_vl"][1])
    inputs = _inputs(policy, size=size)
    t, gh, gw = inputs["image_grid_thw"][0].tolist()
    frame = frame_for(policy.frame, *size)
    assert (frame.frame_width, frame.frame_height) == (gw * 14, gh * 14)


@pytest.mark.parametrize("size", [(112, 112), (200, 100), (97, 301), (640, 480)])
@pytest.mark.parametrize("family", ["qwen2_5_vl", "internvl"])
def test_boxes_land_on_the_same_object_at_any_size(saved, size, family):
    # A red square at the same relative place in images of several sizes; a chain that boxes it in the model's
    # frame must map back onto the red pixels of the original image.
    policy = load_policy(saved[family][1])
    w, h = size
    image = Image.new("RGB", size, (30, 30, 30))
    obj = (round(0.6 * w), round(0.2 * h), round(0.8 * w), round(0.5 * h))
    ImageDraw.Draw(image).rectangle((obj[0], obj[1], obj[2] - 1, obj[3] - 1), fill=(220, 50, 50))
    frame = frame_for(policy.frame, w, h)
    in_model_frame = [round(v) for v in frame.from_original(obj)]
    chain = parse(render(["the red square", (in_model_frame, "red square")], "one", "1", policy.family.box_syntax))
    placed = place_boxes(chain, frame)
    assert len(placed) == 1 and placed[0].valid
    x1, y1, x2, y2 = placed[0].original
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    assert image.getpixel((int(cx), int(cy))) == (220, 50, 50)
    assert abs(x1 - obj[0]) <= w / 100 + 2 and abs(y2 - obj[3]) <= h / 100 + 2


def test_load_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="not a local folder and the Hub is offline"):
        load_policy("Qwen/Qwen2.5-VL-3B-Instruct")
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_policy(tmp_path)
    (tmp_path / "x.bin").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="is a file"):
        load_policy(tmp_path / "x.bin")
    run = tmp_path / "grpo"  # a training run's folder: its final model is in model/, named first
    for folder in ("checkpoint-50", "checkpoint-100", "checkpoint-200", "model"):
        (run / folder).mkdir(parents=True)
        (run / folder / "config.json").write_text("{}")
    with pytest.raises(
        ModelLoadError, match=f"{run} has no config.json, but {run / 'model'}, {run / 'checkpoint-200'}"
    ):
        load_policy(run)
    quickstart = tmp_path / "qs"  # a quickstart's: the trained model is grpo/model, the warm start beside it
    for folder in ("warm", "grpo/model"):
        (quickstart / folder).mkdir(parents=True)
        (quickstart / folder / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match=f"but {quickstart / 'grpo' / 'model'}, {quickstart / 'warm'} hold"):
        load_policy(quickstart)


def test_device_names(saved, tmp_path, capsys):
    gpu = torch.cuda.is_available()
    assert resolve_device("auto").type == ("cuda" if gpu else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    for bad, said in (("gpu0", "not a device name"), ("mps", "cpu or cuda"), ("cuda:99", "CUDA GPU")):
        with pytest.raises(ModelLoadError, match=said):
            resolve_device(bad)
    policy = load_policy(saved["qwen2_5_vl"][1], device="cpu")
    assert next(policy.model.parameters()).device == torch.device("cpu")
    if not gpu:  # the commands that load a model say why, in one line, and load nothing
        image = tmp_path / "im.png"
        Image.new("RGB", (56, 56)).save(image)
        question = ["--image", str(image), "--question", "q", "--max_new_tokens", "2"]
        assert main(["infer", "--model", str(saved["qwen2_5_vl"][1]), *question, "--device", "cuda"]) == 2
        assert "device cuda: torch" in capsys.readouterr().err
        assert main(["pretrain", "--out", str(tmp_path / "pt"), "--device", "cuda"]) == 2
        assert "sees no CUDA GPU" in capsys.readouterr().err and not (tmp_path / "pt").exists()


def test_lora_wraps_the_model(saved):
    from grit.models.loading import LoraSpec

    policy = load_policy(saved["qwen2_5_vl"][1], lora=LoraSpec(r=4, alpha=8, target_modules=["q_proj", "v_proj"]))
    trainable = [n for n, p in policy.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora" in n for n in trainable)


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_adapts_the_language_model_only(saved, family):
    """PEFT's "all-linear" alone adapts the vision tower and projector too; grit's LoRA recipe says language model."""
    from grit.models.loading import LoraSpec

    policy = load_policy(saved[family][1], lora=LoraSpec(r=4, alpha=8))
    adapted = {n.split(".lora_")[0] for n, p in policy.model.named_parameters() if p.requires_grad}
    assert adapted and all(".language_model." in n or ".text_model." in n for n in adapted), sorted(adapted)[:5]


def test_tiny_cli_and_infer(tmp_path, capsys):
    model_dir = tmp_path / "tiny"
    assert main(["model", "tiny", "--out", str(model_dir), "--size", "micro"]) == 0
    info = json.loads((model_dir / "grit_model.json").read_text())
    assert 150_000 < info["parameters"] < 300_000
    assert main(["model", "tiny", "--out", str(model_dir), "--size", "micro"]) == 2  # not empty: refused
    image = tmp_path / "im.png"
    Image.new("RGB", (150, 90), (20, 20, 20)).save(image)
    out = tmp_path / "annotated.png"
    rc = main(
        [
            "infer",
            "--model",
            str(model_dir),
            "--image",
            str(image),
            "--question",
            "How many?",
            "--max_new_tokens",
            "8",
            "--out",
            str(out),
        ]
    )
    assert rc == 0 and out.exists()
    printed = capsys.readouterr().out
    assert "completion:" in printed and "answer:" in printed
    assert main(["infer", "--model", str(tmp_path / "nope"), "--image", str(image), "--question", "q"]) == 2


def test_tokenizer_boxes_are_short_and_round_trip(saved):
    policy = load_policy(saved["qwen2_5_vl"][1])
    tok = policy.tokenizer
    box = '{"bbox_2d": [12, 34, 56, 78], "label": "red circle"}'
    ids = tok(box, add_special_tokens=False)["input_ids"]
    assert len(ids) <= 13 and tok.decode(ids) == box
    for text in ("How many red circles are there? 1234 3.5", "<think> x </think>", "Ünïcödé ✓"):
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    assert [tok.decode([i]) for i in tok("7 112", add_special_tokens=False)["input_ids"]] == ["7", " ", "112"]
    assert Frame.original(1, 1)  # the frame layer is shared with models


@pytest.mark.parametrize(
    "family, kind",
    [("qwen2_5_vl", "resized"), ("qwen2_vl", "norm1000"), ("qwen3_vl", "norm1000"), ("internvl", "norm1000")],
)
def test_each_family_reads_boxes_in_its_models_own_frame(saved, family, kind):
    # Qwen2.5-VL writes pixels of its resized input; Qwen2-VL (its paper: [0, 1000)), Qwen3-VL and InternVL 0-1000.
    # A Qwen2-VL box that touches the far corner is (999, 999) at any image size.
    policy = load_policy(saved[family][1])
    assert policy.frame.kind == kind
    frame = frame_for(policy.frame, 640, 480)
    if kind == "norm1000":
        x1, y1, x2, y2 = frame.to_original((500, 500, 999, 999))
        assert (round(x1), round(y1)) == (320, 240) and abs(x2 - 640) < 1 and abs(y2 - 480) < 1
