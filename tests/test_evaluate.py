"""Evaluation: metric exactness on hand-built outputs, determinism across batch sizes and orders, the judge paths."""

import json
import random

import pytest
import torch
from PIL import Image

from grit.boxes import FrameSpec
from grit.chain import parse, render
from grit.cli import main
from grit.consistency import judge_consistency, label_agreement, parse_pick
from grit.data import load_samples
from grit.data.schema import Sample
from grit.data.shapes.world import write_shapes
from grit.evaluate import EvalSettings, compare, evaluate, summarize
from grit.grounding import frame_for, place_boxes
from grit.metrics import aggregate, gain_text, paired_gain, sample_metrics
from grit.models.loading import load_policy
from grit.models.tiny import TinySpec, build_tiny

ORIGINAL = FrameSpec("original")
OBJECTS = [{"label": "red circle", "box": [10, 10, 30, 30]}, {"label": "blue square", "box": [60, 60, 90, 90]}]


def sample(answer="2", answer_type="count", boxes=((10, 10, 30, 30), (60, 60, 90, 90)), objects=OBJECTS):
    return Sample(
        "s1",
        "x.png",
        None,
        "How many shapes are there?",
        answer,
        answer_type,
        112,
        112,
        tuple(boxes),
        "shapes",
        "val",
        extra={"objects": objects} if objects is not None else {},
    )


def test_exact_metrics_for_a_perfect_chain():
    text = render(["I see", ((10, 10, 30, 30), "red circle"), "and", ((60, 60, 90, 90), "blue square")], "two", "2")
    m = sample_metrics(text, sample(), ORIGINAL)
    assert (m["accuracy"], m["union_iou"], m["matched_iou"], m["precision50"], m["recall50"]) == (
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
    )
    assert m["strict_format"] and m["boxes"] == 2 and m["invalid_boxes"] == 0
    assert m["consistency"] == {"boxes": 2, "agree": 2, "unnamed": 0}


def test_exact_metrics_for_a_partial_chain():
    # One box covering half of the first object, one stray box, a wrong answer, no rethink.
    text = "<think> red circle [10, 10, 20, 30] and [40, 0, 50, 10] </think> <answer> 3 </answer>"
    m = sample_metrics(text, sample(), ORIGINAL)
    assert m["accuracy"] == 0.0 and not m["strict_format"]
    # union IoU: pred area 200 + 100, truth 400 + 900, intersection 200 -> 200 / 1400
    assert m["union_iou"] == pytest.approx(200 / 1400)
    # matching: box 0 <-> object 0 (IoU 0.5); box 1 matches nothing: (0.5 + 0) / 2
    assert m["matched_iou"] == pytest.approx(0.25)
    assert m["precision50"] == pytest.approx(0.5) and m["recall50"] == pytest.approx(0.5)
    # box 0 is named by the nearest phrase "red circle" and covers the red circle; box 1 covers nothing
    assert m["consistency"] == {"boxes": 2, "agree": 1, "unnamed": 0}


def test_no_box_scores_zero_and_no_evidence_is_left_out():
    m = sample_metrics("<think> </think> <rethink> </rethink> <answer> 2 </answer>", sample(), ORIGINAL)
    assert m["union_iou"] == 0.0 and m["recall50"] == 0.0 and m["precision50"] is None
    m2 = sample_metrics("<answer> 0 </answer>", sample("0", boxes=()), ORIGINAL)
    assert m2["union_iou"] is None and m2["accuracy"] == 1.0
    agg = aggregate([m, m2])
    assert agg["union_iou"] == 0.0 and agg["union_iou_n"] == 1 and agg["accuracy"] == 1.0
    assert agg["format_compliance"] == 0.5


def test_direct_prompt_reads_the_whole_output_and_chain_prompt_needs_answer():
    assert sample_metrics(" two ", sample(), ORIGINAL, "direct")["accuracy"] == 1.0
    assert sample_metrics(" two ", sample(), ORIGINAL, "grounded")["accuracy"] == 0.0


def test_label_agreement_rules():
    c = parse("the blue square [60, 60, 90, 90] then [12, 12, 30, 30] is a circle, and [0, 0, 5, 5]")
    placed = place_boxes(c, frame_for(ORIGINAL, 112, 112), "any")
    assert label_agreement(c, placed, OBJECTS) == {"boxes": 3, "agree": 2, "unnamed": 0}
    c2 = parse("[10, 10, 30, 30]")
    assert label_agreement(c2, place_boxes(c2, frame_for(ORIGINAL, 112, 112), "any"), OBJECTS)["unnamed"] == 1
    assert label_agreement(c2, (), None) is None


def test_judge_accuracy_and_failures_are_counted(server):
    from grit.judge import OpenAIJudge

    judge = OpenAIJudge(base_url=server.url, model="j", backoff=0, max_retries=0, max_workers=1)
    server.script = [("ok", "{score: 0.7}"), ("http", 500)]
    m_ok = sample_metrics("<answer> 2 </answer>", sample(), ORIGINAL, "grounded", 0.7, judged=True)
    m_fail = sample_metrics("<answer> 2 </answer>", sample(), ORIGINAL, "grounded", None, judged=True)
    agg = aggregate([m_ok, m_fail])
    assert agg["accuracy"] == 0.7 and agg["accuracy_n"] == 1 and agg["judge_failures"] == 1
    assert judge.score("q", "a", "b").score == 0.7 and judge.score("q", "a", "c").score is None


def test_cross_modal_protocol_against_a_judge(server):
    from grit.judge import OpenAIJudge

    server.script = [("ok", "Image 0")]
    judge = OpenAIJudge(base_url=server.url, model="j", backoff=0, max_retries=0)
    image = Image.new("RGB", (64, 64))
    items = [(image, "a red circle", [(1, 1, 20, 20)]) for _ in range(6)] + [(image, "no boxes", [])]
    out = judge_consistency(judge, items, repeats=3, seed=1)
    # A judge that always answers "Image 0" is right exactly when the true boxes were shown first.
    assert out["items"] == 6 and out["repeats"] == 3 and out["failures"] == 0
    assert 0.0 <= out["mean"] <= 1.0 and out["std"] >= 0.0
    content = server.requests[0]["body"]["messages"][0]["content"]
    assert "a red circle" in content[0]["text"] and content[2]["image_url"]["url"].startswith("data:image/png")
    server.script = [("ok", "I cannot tell")]
    assert judge_consistency(judge, items[:2], repeats=2)["failures"] == 4
    assert parse_pick("Image 1.") == 1 and parse_pick("image 0 or image 1") is None


@pytest.fixture(scope="module")
def noisy_model(tmp_path_factory):
    # Large random weights make greedy outputs differ from sample to sample, so determinism is a real check.
    model, processor = build_tiny(TinySpec(size="micro", seed=1))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5, generator=gen)
    out = tmp_path_factory.mktemp("noisy")
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    out = tmp_path_factory.mktemp("w")
    write_shapes(out, n=60, seed=5)
    return load_samples(out / "train.jsonl")


def test_results_identical_for_any_batch_size_and_order(noisy_model, shapes):
    policy = load_policy(noisy_model)
    results = {}
    for batch in (1, 8, 32):
        r = evaluate(policy, {"d": shapes}, EvalSettings(batch_size=batch, max_new_tokens=12))
        results[batch] = {row["id"]: row["output"] for row in r.rows["d"]}
    shuffled = list(shapes)
    random.Random(3).shuffle(shuffled)
    r = evaluate(policy, {"d": shuffled}, EvalSettings(batch_size=8, max_new_tokens=12))
    results["shuffled"] = {row["id"]: row["output"] for row in r.rows["d"]}
    assert len(set(results[1].values())) > 5  # outputs really differ between samples
    assert results[1] == results[8] == results[32] == results["shuffled"]


def test_eval_cli_writes_everything_and_compares(noisy_model, shapes, tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({**s.to_record(), "image": str(s.image_path)}) + "\n" for s in shapes[:10]))
    out = tmp_path / "ev"
    assert (
        main(["eval", "--model", str(noisy_model), "--data", str(data), "--out", str(out), "--max_new_tokens", "8"])
        == 0
    )
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 10 and {"output", "accuracy", "union_iou", "boxes_original", "prediction"} <= set(rows[0])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["metrics"]["d"]["all"]["samples"] == 10 and metrics["info"]["judge"] == "rules"
    assert {"git_commit", "seed", "versions", "threads", "machine"} <= set(metrics["provenance"])
    assert metrics["provenance"]["machine"]["torch_cpu_capability"]  # the kernels torch runs: they set the rounding
    printed = capsys.readouterr()
    assert "10/10" in printed.err and "acc=" in printed.err  # a progress bar with the accuracy so far
    assert "{'" not in printed.out
    html = (out / "report.html").read_text()
    assert html.count("<img src='data:image/png;base64,") >= 10 and "best" in html and "worst" in html
    assert main(["eval", "--model", str(noisy_model), "--data", str(data), "--out", str(out)]) == 2  # not empty
    argv = ["eval", "--model", str(noisy_model), "--data", str(data), "--out", str(out), "--max_new_tokens", "8"]
    assert main([*argv, "--overwrite"]) == 0  # its own files: replaced
    assert [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()] == rows
    (out / "metrics.json").write_text('{"my": "numbers"}')  # a user's file of that name: kept, and nothing runs
    capsys.readouterr()
    assert main([*argv, "--overwrite"]) == 2
    assert "holds metrics.json, which grit eval did not write" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == '{"my": "numbers"}'
    (out / "metrics.json").write_text(json.dumps(metrics))
    out2 = tmp_path / "ev2"
    assert (
        main(
            [
                "eval",
                "--model",
                str(noisy_model),
                "--data",
                str(data),
                "--out",
                str(out2),
                "--prompt",
                "direct",
                "--max_new_tokens",
                "4",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["eval", "--compare", str(out2 / "metrics.json"), str(out / "metrics.json")]) == 0
    printed = capsys.readouterr().out
    direct, grounded = (
        json.loads((o / "metrics.json").read_text())["metrics"]["d"]["all"]["accuracy"] for o in (out2, out)
    )
    assert "delta" in printed and f"{grounded - direct:+.3f} +- " in printed and "(n 10)" in printed


def test_compare_deltas():
    a = {"metrics": {"d": summarize([sample_metrics("<answer> 3 </answer>", sample(), ORIGINAL)])}}
    b = {"metrics": {"d": summarize([sample_metrics("<answer> 2 </answer>", sample(), ORIGINAL)])}}
    assert "+1.000" in compare(a, b)
    ra = [{"id": "x", "data": "d", "accuracy": 0.0}]
    rb = [{"id": "x", "data": "d", "accuracy": 1.0}, {"id": "y", "data": "other", "accuracy": 1.0}]
    assert "+1.000 (n 1)" in compare(a, b, rows=(ra, rb))  # one pair: no interval


def test_paired_gain_pairs_by_id_and_counts_what_it_cannot_pair():
    before = [
        {"id": "a", "accuracy": 1.0},
        {"id": "b", "accuracy": 0.0},
        {"id": "c", "accuracy": 0.0},
        {"id": "d", "accuracy": 1.0},
    ]
    after = [
        {"id": "b", "accuracy": 1.0},
        {"id": "a", "accuracy": 1.0},
        {"id": "c", "accuracy": None},
        {"id": "e", "accuracy": 1.0},
    ]  # c: a failed judgement; d and e are on one side only
    g = paired_gain(before, after)
    assert g["n"] == 2 and g["unpaired"] == 3 and g["gain"] == 0.5
    assert g["ci95"] == round(1.96 * 0.5**0.5 / 2**0.5, 4)
    assert paired_gain([], after) == {"gain": None, "ci95": None, "n": 0, "unpaired": 4}


def test_paired_gain_is_rounded_once_for_display():
    # Two questions won, two lost, one tied: the half-width is 0.87654, which reads 0.877; rounded to four places
    # first (0.8765) it read 0.876. A quickstart's counting interval, 0.08149, was printed 0.082 that way.
    before = [{"id": str(i), "accuracy": a} for i, a in enumerate([0.0, 0.0, 1.0, 1.0, 1.0])]
    after = [{"id": str(i), "accuracy": a} for i, a in enumerate([1.0, 1.0, 0.0, 0.0, 1.0])]
    g = paired_gain(before, after)
    assert g["ci95"] == pytest.approx(1.96 * (1.0 / 5) ** 0.5, abs=1e-12)
    assert gain_text(g) == "+0.000 +- 0.877 (n 5)"


def test_a_box_written_again_in_the_rethink_is_one_region_for_the_matching():
    from grit.grounding import grounding_scores

    once = grounding_scores([(0, 0, 10, 10), (20, 20, 30, 30)], [[0, 0, 10, 10], [20, 20, 30, 30]])
    twice = grounding_scores([(0, 0, 10, 10), (20, 20, 30, 30)] * 2, [[0, 0, 10, 10], [20, 20, 30, 30]])
    assert once == twice and twice.matched_iou == 1.0 and twice.precision == 1.0
    other = grounding_scores([(0, 0, 10, 10), (50, 50, 60, 60)], [[0, 0, 10, 10]])  # a second region still counts
    assert other.matched_iou == 0.5 and other.precision == 0.5


def _chains(boxes, n=6):
    """``n`` chains, each writing ``boxes`` (as written) in its think."""
    return [parse(render([tuple(b) for b in boxes], "ok", "2")) for _ in range(n)]


def test_frame_doubt_names_the_frame_boxes_fit():
    from grit.grounding import frame_doubt, frame_fit

    resized = FrameSpec("resized")
    unit = [(c, 640, 480, ()) for c in _chains([(0.1, 0.2, 0.4, 0.5)])]  # no evidence: judged by plausibility
    assert frame_fit(unit, resized).plausible == 0 and frame_fit(unit, resized).boxes == 6  # sub-pixel, yet valid
    doubt = frame_doubt(unit, resized)
    assert "6 as 0-1 (--frame relative)" in doubt and "0 of 6 boxes lie inside the image as read" in doubt
    assert frame_doubt(unit, FrameSpec("relative")) is None  # read as written
    assert frame_doubt(unit[:4], resized) is None  # too few boxes to judge
    # Half of them plausible as read: no doubt without evidence.
    mixed = unit[:3] + [(c, 640, 480, ()) for c in _chains([(100, 100, 300, 300)], 3)]
    assert frame_doubt(mixed, resized) is None
    # With evidence, the frame that matches it best is named, even where every box lies inside the image as read.
    thousand = [(c, 640, 480, [[64, 48, 320, 240]]) for c in _chains([(100, 100, 500, 500)])]
    doubt = frame_doubt(thousand, resized)
    assert doubt.startswith("the boxes were read as pixels of the model's resized input (--frame resized)")
    assert "is 0." in doubt and "1.00 as 0-1000 (--frame norm1000)" in doubt and "relative" not in doubt
    assert frame_doubt(thousand, FrameSpec("norm1000")) is None
    # Boxes of the whole image, as read, are a model's mistake to score, not a sign of another frame.
    grit = FrameSpec("resized", max_pixels=256 * 28 * 28)  # GRIT's training setting: 640x480 becomes 504x364
    whole = [(c, 640, 480, ()) for c in _chains([(0, 0, 504, 364)])]
    assert frame_fit(whole, grit).plausible == 6 and frame_doubt(whole, grit) is None
    # Six boxes of one sample say too little; an image the resized frame cannot hold leaves that frame out.
    assert (
        frame_doubt([(parse(render([(100, 100, 500, 500)] * 6, "", "6")), 640, 480, [[64, 48, 320, 240]])], resized)
        is None
    )
    thin = [(c, 2000, 5, [[0, 0, 2000, 5]]) for c in _chains([(0, 0, 1000, 1000)])]
    assert "1.00 as 0-1000 (--frame norm1000)" in frame_doubt(thin, FrameSpec("original"))
    malformed = parse('<think> {"bbox_2d": [0.1, 0.2, 0.4]} </think> <answer> 2 </answer>')
    assert frame_doubt([(malformed, 640, 480, ())] * 6, resized) is None  # malformed boxes say nothing


def test_eval_frame_option_and_warning(noisy_model, shapes, tmp_path, capsys):
    """--frame replaces the family's frame and is recorded; the warning reads an evaluation's own rows."""
    from grit.cli.eval import frame_warning
    from grit.evaluate import EvalResult

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({**s.to_record(), "image": str(s.image_path)}) + "\n" for s in shapes[:4]))
    out = tmp_path / "ev"
    argv = ["eval", "--model", str(noisy_model), "--data", str(data), "--out", str(out), "--max_new_tokens", "4"]
    assert main([*argv, "--frame", "relative"]) == 0
    assert json.loads((out / "metrics.json").read_text())["info"]["frame"] == "relative"
    assert load_policy(noisy_model, frame="relative").frame.kind == "relative"
    assert load_policy(noisy_model).frame.kind == "resized"  # the family's
    # Chains that write each sample's evidence box in 0-1000, evaluated as pixels of the resized input.
    boxed = [s for s in shapes if s.evidence_boxes][:6]
    outputs = [
        render([tuple(round(v * 1000 / w) for v, w in zip(s.evidence_boxes[0], (s.width, s.height) * 2))], "", "1")
        for s in boxed
    ]
    result = EvalResult({"d": [{"output": o} for o in outputs]})
    warning = frame_warning({"d": boxed}, result, load_policy(noisy_model).frame)
    assert warning.startswith("the boxes were read as pixels of the model's resized input (--frame resized)")
    assert "as 0-1000 (--frame norm1000)" in warning and warning.endswith("evaluate again with that --frame")
    assert frame_warning({"d": boxed}, result, FrameSpec("norm1000")) is None


def test_eval_tells_its_own_long_outputs_from_a_users(tmp_path):
    """grit eval's files are known by how they start: a long list of skipped lines (or a long first row) put a
    marker further in out of reach, and --overwrite refused grit's own metrics.json."""
    from grit.outputs import EVAL_OWN_TEXT, foreign_files

    info = {"skipped": "; ".join(f"d.jsonl:{i}: field 'question': empty" for i in range(3000))}
    (tmp_path / "metrics.json").write_text(json.dumps({"info": info, "metrics": {}, "provenance": {}}, indent=2))
    (tmp_path / "predictions.jsonl").write_text(json.dumps({"data": "d", "output": "x" * 100_000}) + "\n")
    assert foreign_files(tmp_path, EVAL_OWN_TEXT) == []
    (tmp_path / "metrics.json").write_text(json.dumps({"accuracy": 0.9}, indent=2))
    assert foreign_files(tmp_path, EVAL_OWN_TEXT) == ["metrics.json"]
