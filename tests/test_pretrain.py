"""``grit pretrain`` on a micro model: the word read-out reaches the language model's embeddings, bad configs fail
with the field named, and a run interrupted mid-way and resumed ends with the weights of an uninterrupted run."""

import json
import random
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from grit.boxes import Frame
from grit.config import ConfigError, from_yaml
from grit.data.shapes import WorldConfig, make_scene
from grit.models.tiny import TinySpec, build_tiny, size_of
from grit.pretrain.config import PretrainConfig
from grit.pretrain.dense import DenseHeads, cell_targets, dense_loss
from grit.pretrain.train import Pretrainer, _word_ids


def micro_config(out, **kw):
    base = dict(
        out=str(out),
        size="micro",
        vision_steps=3,
        vision_batch=4,
        lm_steps=6,
        lm_batch=4,
        warmup_steps=2,
        eval_every=3,
        save_every=3,
        curriculum_steps=2,
        heldout_grounding=4,
        heldout_direct=1,
        heldout_reasoning=4,
        word_readout=True,
        grounding_present_share=0.5,
    )
    base.update(kw)
    return PretrainConfig(**base)


def test_word_readout_scores_cells_against_the_word_embeddings():
    world = WorldConfig(image_size=112)
    rng = random.Random(0)
    scenes = [s for s in (make_scene(rng, world) for _ in range(8)) if s is not None]
    frame = Frame.qwen(112, 112, 56 * 56, 112 * 112)
    targets = cell_targets(scenes, 4, 28, list(world.colours), list(world.shapes), frame)
    heads = DenseHeads(16, len(world.colours), len(world.shapes))
    features = torch.randn(len(scenes) * 16, 16)
    numbers = torch.randn(113, 16)
    words = {
        "colour": torch.randn(4, 16, requires_grad=True),
        "shape": torch.randn(3, 16, requires_grad=True),
        "shapes": torch.randn(3, 16, requires_grad=True),
    }
    assert "words" not in dense_loss(heads, features, targets, numbers)
    losses = dense_loss(heads, features, targets, numbers, words)
    losses["words"].backward()
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in words.values())


def test_word_ids_need_single_tokens():
    _, processor = build_tiny(TinySpec(size="micro"))
    assert len(_word_ids(processor.tokenizer, ["red", "circle"])) == 2
    with pytest.raises(ValueError, match="' magenta' to be one token"):
        _word_ids(processor.tokenizer, ["magenta"])


def test_bad_config_names_the_field(tmp_path):
    with pytest.raises(ValueError, match="size: 'huge' is not one of micro, tiny, small"):
        PretrainConfig(size="huge")
    with pytest.raises(ValueError, match="task_mix"):
        PretrainConfig(task_mix={"chains": 1.0})
    with pytest.raises(ValueError, match="max_count: 5 with max_objects 4; a scene must hold"):
        PretrainConfig(max_objects=4, max_count=5)
    # checked before any step, not at the first language-model step after minutes of vision training
    with pytest.raises(ValueError, match=r"task_mix: \{'grounding': 0\}: give weights >= 0, at least one above 0"):
        PretrainConfig(task_mix={"grounding": 0})
    with pytest.raises(ValueError, match="reasoning_families: .* at least one above 0"):
        PretrainConfig(reasoning_families={"spatial": 0})
    with pytest.raises(ValueError, match="image_size: 100 is not a multiple of 28 .*; give 84 or 112"):
        PretrainConfig(image_size=100)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("lm_step: 10\n")
    with pytest.raises(ValueError, match="r.yaml:1: unknown field 'lm_step'; did you mean lm_steps"):
        from_yaml(PretrainConfig, recipe)


class Interrupted(Exception):
    pass


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    torch.manual_seed(0)
    full = Pretrainer(micro_config(tmp_path / "full"), log=lambda *_: None)
    full.run()
    torch.manual_seed(0)
    cut = Pretrainer(micro_config(tmp_path / "cut"), log=lambda *_: None)

    def stop(*_):  # the first held-out evaluation (language step 3, just after a checkpoint) kills the run
        raise Interrupted

    cut.evaluate = stop
    with pytest.raises(Interrupted):
        cut.run()
    with pytest.raises(FileExistsError, match="--resume"):
        Pretrainer(micro_config(tmp_path / "cut"))
    resumed = Pretrainer(micro_config(tmp_path / "cut"), resume=True, log=lambda *_: None)
    assert resumed.state == {"stage": "language", "step": 3, "history": []}
    resumed.run()
    a = load_file(tmp_path / "full" / "model" / "model.safetensors")
    b = load_file(tmp_path / "cut" / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)
    start = load_file(tmp_path / "full" / "checkpoint-last" / "model.safetensors")
    assert start.keys() == a.keys()
    info = json.loads((tmp_path / "full" / "model" / "grit_model.json").read_text())
    assert info["provenance"]["machine"]["torch_cpu_capability"]  # which machine built it: its arithmetic matters
    assert info["config"]["size"] == "micro"
    # A stage started from that model records the model's size, not the default one a new model would have.
    after = micro_config(tmp_path / "after", model=str(tmp_path / "full" / "model"), size="small", lm_steps=1)
    after = Pretrainer(replace(after, vision_steps=0, eval_every=1, save_every=1), log=lambda *_: None)
    after.run()
    info = json.loads((tmp_path / "after" / "model" / "grit_model.json").read_text())
    assert info["config"]["size"] == "micro"
    assert info["config"]["model"] == str(tmp_path / "full" / "model")
    assert json.loads((tmp_path / "after" / "pretrain_config.json").read_text())["size"] == "micro"


def test_size_of_names_the_tiny_sizes_and_nothing_else():
    from transformers import Qwen2VLConfig

    for size in ("micro", "tiny"):
        model, _ = build_tiny(TinySpec(size=size))
        assert size_of(model.config) == size
    assert size_of(Qwen2VLConfig()) is None  # another family's config: no tiny size, no error


def test_instructed_questions_put_an_instruction_after_the_question_and_never_grit_tags():
    from grit.chain import parse
    from grit.data.shapes.questions import referents
    from grit.pretrain.tasks import instructed_example

    world, rng = WorldConfig(image_size=112), random.Random(1)
    frame = Frame.qwen(112, 112, 56 * 56, 112 * 112)
    kinds = set()
    for _ in range(60):
        ex = instructed_example(rng, world, frame)
        kinds.add(ex.task)
        question = ex.prompt.split("Question: ")[1]
        asked, instruction = question.split("?", 1)
        assert instruction.strip(), ex.prompt  # something follows the question
        assert not any(f"<{t}>" in ex.prompt + ex.target for t in ("think", "rethink", "answer")), ex
        if ex.task.startswith("instructed/boxes"):
            groups = referents(asked + "?")
            names = [f"{c or ''} {s or ''}" for c, s in groups]
            for box in parse(ex.target).boxes:  # each box is of an object the question names, inside the image
                colour, shape = box.label.split()
                assert any((c in (None, colour)) and (s in (None, shape)) for c, s in groups), (box.label, names)
                assert all(0 <= v <= 112 for v in frame.to_original(box.coords))
    assert kinds == {"instructed/answer", "instructed/tagged", "instructed/boxes", "instructed/boxes_unnamed"}


def test_group_grounding_asks_for_the_counted_group_and_boxes_every_member():
    """With ``group_share`` 1 every grounding query names the group of a counting question (several alike, or
    none) and its target boxes every member of that group in the scene; the question is never shown."""
    from grit.chain import parse
    from grit.pretrain.tasks import GROUNDING_TEMPLATE, sample_example

    world, rng = WorldConfig(image_size=112), random.Random(3)
    frame = Frame.qwen(112, 112, 56 * 56, 112 * 112)
    sizes = []
    for _ in range(60):
        ex = sample_example(rng, world, frame, {"grounding": 1.0}, group_share=1.0)
        assert ex.task == "grounding" and "Question" not in ex.prompt and "How many" not in ex.prompt
        what = ex.prompt.removeprefix("Output the bounding boxes of all ").removesuffix(" in JSON with key 'bbox_2d'.")
        assert GROUNDING_TEMPLATE.format(what=what) == ex.prompt
        boxes = parse(ex.target).boxes
        sizes.append(len(boxes))
        assert ex.target == "none" or len(boxes) >= 1
        words = what.split()
        for box in boxes:
            colour, shape = box.label.split()
            assert all(w in (colour, shape + "s", "shapes") for w in words), (what, box.label)
    assert set(sizes) == set(range(world.max_count + 1))  # none to max_count members, as the counting questions
    plain = [sample_example(random.Random(k), world, frame, {"grounding": 1.0}) for k in range(40)]
    assert sum(len(parse(ex.target).boxes) >= 3 for ex in plain) < sum(n >= 3 for n in sizes)


def test_extreme_grounding_boxes_the_one_shape_a_superlative_picks():
    """``extreme_share`` 1: every grounding query asks for the leftmost/rightmost/topmost/bottommost shape and its
    target is that one shape's box, clear of the next shape on that axis; ``grounding_asks`` asks the same of a
    superlative question, and one query per named group otherwise."""
    from grit.chain import parse
    from grit.data.shapes import extreme, make_question
    from grit.data.shapes.questions import EXTREMES
    from grit.pretrain.tasks import (
        EXTREME_TEMPLATE,
        GROUNDING_TEMPLATE,
        grounding_asks,
        named_grounding_example,
        sample_example,
    )

    world, rng = WorldConfig(image_size=112), random.Random(4)
    frame = Frame.qwen(112, 112, 56 * 56, 112 * 112)
    seen = set()
    for _ in range(40):
        ex = sample_example(rng, world, frame, {"grounding": 1.0}, extreme_share=1.0)
        seen.update(w for w in EXTREMES if EXTREME_TEMPLATE.format(where=w) == ex.prompt)
        assert len(parse(ex.target).boxes) == 1, ex.target
    assert seen == set(EXTREMES)
    for k in range(20):
        q = make_question(random.Random(k), world, "attribute", 2 + k % 2)  # colour / shape of an extreme
        where = extreme(q.question)
        axis, pick = EXTREMES[where]
        target = pick(q.scene.objects, key=lambda o: (o.box[axis] + o.box[axis + 2]) / 2)
        ex = named_grounding_example(q, frame)
        assert ex.prompt == EXTREME_TEMPLATE.format(where=where) and q.question not in ex.prompt
        (box,) = parse(ex.target).boxes
        assert frame.to_original(box.coords) == pytest.approx(target.box, abs=1) and box.label == target.label
    q = make_question(random.Random(5), world, "attribute", 2)  # colour of an extreme
    ((what, prompt),) = grounding_asks(q.question)
    assert what.endswith("shape") and prompt == EXTREME_TEMPLATE.format(where=what.split()[0])
    assert grounding_asks("Is the red circle left of the blue square?") == [
        ("red circles", GROUNDING_TEMPLATE.format(what="red circles")),
        ("blue squares", GROUNDING_TEMPLATE.format(what="blue squares")),
    ]


def test_grounding_shares_over_one_are_refused():
    with pytest.raises(ConfigError, match="grounding_group_share \\+ grounding_extreme_share: 0.7 \\+ 0.5 is over 1"):
        micro_config("x", grounding_group_share=0.7, grounding_extreme_share=0.5)


def test_learning_rates_that_would_train_nothing_or_rise_are_refused():
    with pytest.raises(ConfigError, match="lm_lr: 0 with lm_steps .*: those steps would change nothing"):
        micro_config("x", lm_lr=0.0)
    with pytest.raises(ConfigError, match="lm_min_lr: 0.1 is above lm_lr 0.001: the cosine decays from lm_lr"):
        micro_config("x", lm_lr=0.001, lm_min_lr=0.1)


def test_instructed_task_is_a_known_task_mix_entry():
    assert micro_config("x", task_mix={"instructed": 1.0}).task_mix == {"instructed": 1.0}
    with pytest.raises(ValueError, match="instructed"):
        micro_config("x", task_mix={"instruct": 1.0})


def test_reasoning_task_gives_the_named_objects_boxes_and_learns_only_the_answer():
    """The reply's start holds the boxes of the objects the question names, in its order (the truth, no loss);
    only the answer is a target; the image is none or another scene's, so the boxes are the only evidence. No GRIT
    tag anywhere."""
    from grit.chain import parse
    from grit.data.shapes.questions import referents
    from grit.pretrain.tasks import collate, reasoning_example

    world, rng = WorldConfig(image_size=112), random.Random(2)
    frame = Frame.qwen(112, 112, 56 * 56, 112 * 112)
    examples = [reasoning_example(rng, world, frame) for _ in range(40)]
    for ex in examples:
        assert not any(f"<{t}>" in ex.prompt + ex.given + ex.target for t in ("think", "rethink", "answer"))
        assert ex.prompt.startswith("\nQuestion: ") and ex.given.endswith(" answer:")
        asked = referents(ex.prompt.split("Question: ")[1])
        labels = [b.label for b in parse(ex.given).boxes]
        # groups in the question's order: every box of group k comes before any box of group k + 1
        order = [
            next(k for k, (c, s) in enumerate(asked) if c in (None, lab.split()[0]) and s in (None, lab.split()[1]))
            for lab in labels
        ]
        assert order == sorted(order), (ex.prompt, labels)
        if ex.task == "reasoning/spatial":
            assert len(labels) == 2 and ex.target in ("yes", "no")
        if ex.task == "reasoning/counting":
            assert ex.target == str(len(labels))
    assert {e.image is None for e in examples} == {True, False}
    _, processor = build_tiny(TinySpec(size="micro"))
    batch = collate(processor, examples[:6], set(), 1.0)
    tok = processor.tokenizer
    for row, ex in enumerate(examples[:6]):
        learned = batch["labels"][row][batch["labels"][row] != -100]
        assert tok.decode(learned).strip() == ex.target + "<|im_end|>"
    assert {e.task.split("/")[0] for e in examples} == {"reasoning"}


def test_reasoning_images_are_never_the_questions_own_unless_asked():
    from grit.pretrain.tasks import reasoning_example

    world, frame = WorldConfig(image_size=112), Frame.qwen(112, 112, 56 * 56, 112 * 112)
    for seed in range(12):
        own = reasoning_example(random.Random(seed), world, frame, image="own")
        other = reasoning_example(random.Random(seed), world, frame, image="other")
        assert own.prompt == other.prompt and own.given == other.given
        assert own.image.tobytes() != other.image.tobytes()
        assert reasoning_example(random.Random(seed), world, frame, image="none").image is None


def test_reasoning_families_and_images_come_from_the_recipe():
    """A stage can train one comparison alone (recipes/shapes_base_compare.yaml): the families and images it draws
    are the config's, and a misspelt family or image kind is refused before anything runs."""
    from grit.pretrain.tasks import sample_example

    world, frame, rng = WorldConfig(image_size=112), Frame.qwen(112, 112, 56 * 56, 112 * 112), random.Random(4)
    examples = [
        sample_example(rng, world, frame, {"reasoning": 1.0}, 0.0, {"spatial": 1.0}, ["none"]) for _ in range(30)
    ]
    assert {e.task for e in examples} == {"reasoning/spatial"}
    assert all(e.image is None for e in examples)
    mixed = [sample_example(rng, world, frame, {"reasoning": 1.0}, 0.0, None, ["other"]) for _ in range(60)]
    assert len({e.task for e in mixed}) > 1 and all(e.image is not None for e in mixed)
    with pytest.raises(ConfigError, match="reasoning_families: .*spatail"):
        PretrainConfig(reasoning_families={"spatail": 1.0})
    with pytest.raises(ConfigError, match="reasoning_images: 'mine' is not one of none, other, own"):
        PretrainConfig(reasoning_images=["mine"])


def test_reasoning_forms_put_an_instruction_after_the_question_and_never_grits():
    """Behind an instruction the question's relation word is far from the boxes; the forms train that distance with
    instructions that are not GRIT's (answer only, the boxes between two other tags, general sentences)."""
    from grit.pretrain.tasks import ANSWER_ONLY, INSTRUCTION_SENTENCES, TAGS, reasoning_example

    world, frame, rng = WorldConfig(image_size=112), Frame.qwen(112, 112, 56 * 56, 112 * 112), random.Random(9)
    only = [reasoning_example(rng, world, frame, forms=[0, 1, 0, 0]) for _ in range(20)]
    assert all(any(e.prompt.endswith(a) for a in ANSWER_ONLY) and e.given.endswith(" answer:") for e in only)
    tagged = [reasoning_example(rng, world, frame, forms=[0, 0, 1, 0]) for _ in range(20)]
    for e in tagged:
        assert "First, write the boxes of" in e.prompt and e.given.split("> ")[0][1:] in TAGS
        assert e.given.endswith(">") and e.given.count("bbox_2d") >= 1 or "none" in e.given
        assert not any(f"<{t}>" in e.prompt + e.given for t in ("think", "rethink", "answer"))
    long = [reasoning_example(rng, world, frame, forms=[0, 0, 0, 1]) for _ in range(20)]
    for e in long:
        said = [x for x in INSTRUCTION_SENTENCES if x in e.prompt]
        assert 2 <= len(said) <= 5 and e.prompt.endswith(tuple(said)) and e.given.endswith(" answer:")
    plain = [reasoning_example(rng, world, frame) for _ in range(20)]  # the default: the question alone
    assert all(e.prompt.split("?")[-1] == "" and e.given.endswith(" answer:") for e in plain)
    with pytest.raises(ConfigError, match="reasoning_forms: .*give 4 weights"):
        PretrainConfig(reasoning_forms=[1.0, 1.0])


def test_instructed_settings_ask_for_own_boxes_behind_long_instructions_and_count_more():
    """Stage 9's settings: counting questions at the given share, the kinds' weights, and general sentences (never
    GRIT's instruction) before an instruction to write boxes; at their defaults the stream is the one before."""
    import hashlib

    from grit.pretrain.tasks import INSTRUCTION_SENTENCES, instructed_example, sample_example

    world, frame = WorldConfig(image_size=112), Frame.qwen(112, 112, 56 * 56, 112 * 112)
    rng = random.Random(3)
    long = [instructed_example(rng, world, frame, 1.0, [0, 0, 1, 1], 1.0) for _ in range(30)]
    for e in long:
        assert e.prompt.split("Question: ")[1].startswith("How many"), e.prompt
        assert e.task in ("instructed/boxes", "instructed/boxes_unnamed")
        said = [x for x in INSTRUCTION_SENTENCES if x in e.prompt]
        assert 2 <= len(said) <= 5 and e.prompt.index(said[0]) < e.prompt.index("First, write the boxes of")
        assert not any(f"<{t}>" in e.prompt + e.target for t in ("think", "rethink", "answer"))
    short = [instructed_example(rng, world, frame, 0.0, [0, 0, 1, 0], 0.0) for _ in range(30)]
    assert not any(x in e.prompt for e in short for x in INSTRUCTION_SENTENCES)
    assert {e.prompt.split("Question: ")[1].split()[0] for e in short} != {"How"}  # every family, not only counting
    # the stream of the defaults, as the code drew it before these settings existed (the shipped stages 1-8 come from
    # it): the hash of 40 examples, taken from that code
    rng = random.Random(5)
    default = [sample_example(rng, world, frame, {"instructed": 1.0, "grounding": 1.0}) for _ in range(40)]
    digest = hashlib.sha256(repr([(e.prompt, e.target) for e in default]).encode()).hexdigest()
    assert digest == "9b5a65d0cea814b5c183aa226c8f9d391184d77c7a608090c415875aea499f2a"
    with pytest.raises(ConfigError, match="instructed_kinds: .*give 4 weights"):
        PretrainConfig(instructed_kinds=[1.0])
    with pytest.raises(ConfigError, match="instructed_long_share"):
        PretrainConfig(instructed_long_share=1.5)


def test_make_base_chains_the_nine_stage_recipes_each_from_the_last_ones_model():
    """`make base` runs the stages in order into runs/<stage>; each recipe starts from the model the stage before it
    writes."""
    import re
    from pathlib import Path

    from grit.config import from_yaml

    root = Path(__file__).parents[1]
    stages = re.search(r"^BASE_STAGES := (.+)$", (root / "Makefile").read_text(), re.M).group(1).split()
    assert stages[0] == "base" and stages[-1] == "base_ground_long" and len(stages) == 9
    before = None
    for stage in stages:
        cfg = from_yaml(PretrainConfig, root / "recipes" / f"shapes_{stage}.yaml")
        assert cfg.model == (f"runs/{before}/model" if before else ""), stage
        before = stage.replace("_", "-")


def test_grounding_readout_counts_answers_with_exactly_the_truths_boxes():
    """The held-out group measure: an answer that boxes every member is exact and finds them all; one that drops a
    member is not exact and misses it; "none" for an empty group is exact."""
    from grit.data.shapes import make_question
    from grit.pretrain.probe import grounding_readout
    from grit.pretrain.tasks import named_grounding_example

    world, frame = WorldConfig(image_size=112), Frame.qwen(112, 112, 56 * 56, 112 * 112)
    examples = [
        named_grounding_example(make_question(random.Random(k), world, "counting", k), frame) for k in range(5)
    ]
    assert [ex.target.count("bbox_2d") for ex in examples] == [0, 1, 2, 3, 4]
    right = grounding_readout([ex.target for ex in examples], examples, frame, "g")
    assert right == {"g_matched_iou": 1.0, "g_recall50": 1.0, "g_empty_correct": 1.0, "g_exact_count": 1.0}
    dropped = [ex.target.split("}, ")[0] + "}]" if ex.target.count("bbox_2d") > 1 else ex.target for ex in examples]
    short = grounding_readout(dropped, examples, frame, "g")
    assert short["g_exact_count"] == 2 / 5 and short["g_recall50"] == (1 + 1 + 1 + 1) / (1 + 2 + 3 + 4)


# sha256 of stage 1's draws (recipes/shapes_base.yaml): the vision stage's scenes, then the language stage's first
# 1010 batches (the curriculum's 1000 and ten after). Drawn by the code that built the shipped base's stage 1
# (commit cdcfd14) and by today's, whose checkpoints at language step 1250 were bitwise identical on one machine
# (docs/EXPERIMENTS.md, "The same draws, another machine's arithmetic").
STAGE_ONE_DRAWS = "35b004eb445bb50a"


def test_stage_one_draws_the_examples_that_built_the_shipped_base(tmp_path):
    import hashlib

    cfg = from_yaml(PretrainConfig, "recipes/shapes_base.yaml", {"out": str(tmp_path / "base"), "device": "cpu"})
    trainer = Pretrainer(cfg)
    digest = hashlib.sha256()
    for _ in range(cfg.vision_steps):
        for scene in trainer.scenes(cfg.vision_batch):
            digest.update(repr([(o.colour, o.shape, o.box) for o in scene.objects]).encode())
    for step in range(cfg.curriculum_steps + 10):
        for ex in trainer.examples(step):
            digest.update(f"{ex.task}|{ex.prompt}|{ex.given}|{ex.target}".encode())
            if step % 50 == 0 and ex.image is not None:
                digest.update(ex.image.tobytes())
    assert digest.hexdigest()[:16] == STAGE_ONE_DRAWS
