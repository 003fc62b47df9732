import hashlib
import json
import random
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from grit.boxes import Frame
from grit.chain import parse
from grit.cli import main
from grit.data import load_samples
from grit.data.selection import select_grit20
from grit.data.shapes.questions import make_question
from grit.data.shapes.scene import BACKGROUND, COLOURS, WorldConfig
from grit.data.shapes.world import apportion, write_shapes
from grit.data.trl import to_trl_dataset
from grit.pretrain.tasks import direct_example, grounding_example


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("shapes")
    write_shapes(out, n=400, seed=3)
    return out


def _digest(folder):
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes(tmp_path):
    write_shapes(tmp_path / "a", n=40, seed=7)
    write_shapes(tmp_path / "b", n=40, seed=7)
    write_shapes(tmp_path / "c", n=40, seed=8)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")


def test_splits_share_no_scene(world):
    seen = {}
    for split in ("train", "val", "test"):
        for s in load_samples(world / f"{split}.jsonl"):
            key = hashlib.sha256(s.image_path.read_bytes()).hexdigest()
            assert seen.setdefault(key, split) == split
    assert len(seen) == 400


def test_answers_are_balanced(world):
    samples = load_samples(world / "train.jsonl")
    fam = Counter(s.extra["family"] for s in samples)
    assert fam == {"counting": 128, "spatial": 96, "existence": 48, "attribute": 48}
    counts = Counter(s.answer for s in samples if s.extra["family"] == "counting")
    assert set(counts) == {"0", "1", "2", "3", "4"} and max(counts.values()) - min(counts.values()) <= 1
    for family in ("spatial", "existence"):
        yn = Counter(s.answer for s in samples if s.extra["family"] == family)
        assert yn["yes"] == yn["no"]


def test_evidence_boxes_cover_the_right_objects(world):
    for s in load_samples(world / "train.jsonl")[:150]:
        pixels = np.asarray(Image.open(s.image_path).convert("RGB"))
        objects = {tuple(o["box"]): o for o in s.extra["objects"]}
        for box in s.evidence_boxes:
            o = objects[tuple(int(v) for v in box)]
            x1, y1, x2, y2 = (int(v) for v in box)
            crop = pixels[y1:y2, x1:x2].reshape(-1, 3)
            colours = Counter(map(tuple, crop))
            assert tuple(COLOURS[o["colour"]]) in colours  # the object's colour is inside its box ...
            assert set(colours) <= {tuple(COLOURS[o["colour"]]), BACKGROUND}  # ... and nothing else
            # the box is tight: every edge row/column touches the object
            mask = (pixels[y1:y2, x1:x2] == COLOURS[o["colour"]]).all(-1)
            assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any()
            if s.extra["family"] in ("counting", "existence"):
                assert o["colour"] in s.question or o["shape"] in s.question


def test_spatial_answers_match_geometry(world):
    for s in load_samples(world / "train.jsonl"):
        if s.extra["family"] != "spatial":
            continue
        a, b = (((x1 + x2) / 2, (y1 + y2) / 2) for x1, y1, x2, y2 in s.evidence_boxes)
        truth = {"left of": a[0] < b[0], "right of": a[0] > b[0], "above": a[1] < b[1], "below": a[1] > b[1]}
        relation = next(r for r in truth if f" {r} " in s.question)
        assert truth[relation] == (s.answer == "yes")


def test_grit20(world):
    samples = load_samples(world / "train.jsonl")
    chosen = select_grit20(samples, seed=0)
    assert len(chosen) == 20
    counting = [s for s in chosen if s.answer_type == "count"]
    assert Counter(s.answer for s in counting) == {str(c): 2 for c in range(5)}
    spatial = [s for s in chosen if s.extra["family"] == "spatial"]
    assert Counter(s.answer for s in spatial) == {"yes": 5, "no": 5}
    assert [s.id for s in select_grit20(samples, seed=0)] == [s.id for s in chosen]
    with pytest.raises(ValueError, match="answer 4"):
        select_grit20([s for s in samples if s.answer != "4"])


def test_grit20_families_mix(world):
    samples = load_samples(world / "train.jsonl")
    chosen = select_grit20(samples, seed=0, mix="families")
    assert len(chosen) == 20 and len({s.id for s in chosen}) == 20
    by_family = Counter(s.extra["family"] for s in chosen)
    assert by_family == {"counting": 5, "spatial": 5, "existence": 5, "attribute": 5}
    assert Counter(s.answer for s in chosen if s.extra["family"] == "counting") == {str(c): 1 for c in range(5)}
    yes_no = Counter(s.answer for s in chosen if s.extra["family"] == "existence")
    assert sorted(yes_no.values()) == [2, 3]
    assert len({s.answer for s in chosen if s.extra["family"] == "attribute"}) == 5  # answers spread, not one colour
    few_spatial = [s for s in samples if s.extra["family"] != "spatial"] + [
        s for s in samples if s.extra["family"] == "spatial"
    ][:3]
    with pytest.raises(ValueError, match="needs 5 spatial samples, the data has 3"):
        select_grit20(few_spatial, mix="families")
    with pytest.raises(ValueError, match="'paper' .*, 'families' or 'counting_half'"):
        select_grit20(samples, mix="half")


def test_grit20_counting_half_mix_keeps_the_papers_ten_counting_items(world):
    samples = load_samples(world / "train.jsonl")
    chosen = select_grit20(samples, seed=0, mix="counting_half")
    assert len(chosen) == 20 and len({s.id for s in chosen}) == 20
    assert Counter(s.extra["family"] for s in chosen) == {"counting": 10, "spatial": 4, "existence": 3, "attribute": 3}
    assert Counter(s.answer for s in chosen if s.extra["family"] == "counting") == {str(c): 2 for c in range(5)}
    assert Counter(s.answer for s in chosen if s.extra["family"] == "spatial") == {"yes": 2, "no": 2}
    no_attribute = [s for s in samples if s.extra["family"] != "attribute"]
    assert Counter(s.extra["family"] for s in select_grit20(no_attribute, mix="counting_half")) == {
        "counting": 10,
        "spatial": 5,
        "existence": 5,
    }
    with pytest.raises(ValueError, match="counting_half.* needs counting samples"):
        select_grit20([s for s in samples if s.extra["family"] != "counting"], mix="counting_half")


def test_trl_dataset(world):
    samples = load_samples(world / "val.jsonl")
    ds = to_trl_dataset(samples, prompt="grounded")
    row = ds[0]
    assert row["prompt"][0]["role"] == "user"
    assert row["prompt"][0]["content"][0]["type"] == "image"
    assert "First, think between <think>" in row["prompt"][0]["content"][1]["text"]
    assert row["image"].size == (112, 112)
    assert row["answer"] == samples[0].answer and row["evidence_boxes"] == [list(b) for b in samples[0].evidence_boxes]
    assert not ds.features["image"].decode and row["image"].mode == "RGB"  # stored as paths, decoded by grit
    direct = to_trl_dataset(samples[:2], prompt="direct")
    assert direct[0]["prompt"][0]["content"][1]["text"] == "\nQuestion: " + samples[0].question


def test_tasks_are_never_chains():
    rng, cfg = random.Random(0), WorldConfig()
    frame = Frame.original(112, 112)
    for i in range(60):
        q = make_question(rng, cfg, ("counting", "spatial", "existence", "attribute")[i % 4], i)
        g = grounding_example(q.scene, rng, frame, cfg.colours, cfg.shapes)
        d = direct_example(q)
        for example in (g, d):
            c = parse(example.target)
            assert not (c.think.present or c.rethink.present or c.answer.present)
        if g.target != "none":
            assert all(b.well_formed and b.syntax == "json" for b in parse(g.target).boxes)


def test_world_config_errors():
    with pytest.raises(ValueError, match="a scene holds 1 to 8 objects"):
        WorldConfig(max_objects=9)
    with pytest.raises(ValueError, match="unknown colours"):
        WorldConfig(colours=("purple",))
    with pytest.raises(ValueError, match="max_count: 7 with max_objects 6; a scene must hold the counted objects"):
        WorldConfig(max_count=7)


def test_counts_run_to_max_count_balanced():
    rng, cfg = random.Random(3), WorldConfig(max_objects=8, max_count=6)
    questions = [make_question(rng, cfg, "counting", i) for i in range(70)]
    assert Counter(q.answer for q in questions) == {str(c): 10 for c in range(7)}
    for q in questions:
        assert len(q.scene.objects) <= 8 and len(q.evidence) == int(q.answer)


def test_no_scene_holds_more_than_max_objects(tmp_path, capsys):
    rng, cfg = random.Random(0), WorldConfig(max_objects=1, max_count=1)
    for family in ("counting", "existence", "attribute"):
        assert all(len(make_question(rng, cfg, family, i).scene.objects) <= 1 for i in range(40))
    argv = ["data", "shapes", "--out", str(tmp_path / "w"), "--n", "20", "--max_objects", "1", "--max_count", "1"]
    assert main(argv) == 2
    assert "spatial questions relate two objects; give --max_objects 2 or more" in capsys.readouterr().err
    quickstart = ["quickstart", "--out", str(tmp_path / "q"), "--max_objects", "1", "--max_count", "1"]
    assert main(quickstart) == 2  # it asks every family: refused before any work, not a traceback
    assert "spatial questions relate two objects" in capsys.readouterr().err and not (tmp_path / "q" / "data").exists()


def test_apportion():
    assert apportion(7, {"a": 1, "b": 1}) == {"a": 4, "b": 3}
    assert sum(apportion(101, {"x": 0.4, "y": 0.3, "z": 0.3}).values()) == 101


def test_data_cli(tmp_path, capsys):
    out = tmp_path / "w"
    assert (
        main(
            [
                "data",
                "shapes",
                "--out",
                str(out),
                "--n",
                "200",
                "--families",
                "counting",
                "spatial",
                "--mix",
                "1",
                "1",
                "--base_tasks",
                "8",
            ]
        )
        == 0
    )
    tasks = [json.loads(line) for line in (out / "base_tasks.jsonl").read_text().splitlines()]
    assert [t["task"] for t in tasks] == ["direct", "grounding"] * 4
    assert all((out / t["image"]).exists() and not parse(t["target"]).think.present for t in tasks)
    assert (out / "grit20.jsonl").exists()
    grit20 = [json.loads(line) for line in (out / "grit20.jsonl").read_text().splitlines()]
    assert len(grit20) == 20
    assert main(["data", "shapes", "--out", str(out), "--n", "10"]) == 2  # refuses to overwrite
    assert main(["data", "check", str(out / "train.jsonl")]) == 0
    assert "question families: counting 80, spatial 80" in capsys.readouterr().out
    assert main(["data", "show", str(out / "val.jsonl"), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert Image.open(tmp_path / "s.png").width > 400
    bad = tmp_path / "bad.jsonl"
    bad.write_text((out / "val.jsonl").read_text() + '{"question": "q"}\n')
    assert main(["data", "check", str(bad), "--images", str(out)]) == 1
    assert "field 'answer': missing required field" in capsys.readouterr().out
