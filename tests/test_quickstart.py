"""``grit quickstart`` end to end on a micro base with a few steps of everything: every stage runs with a header on
the console and no raw dicts, the summary holds every question family before, after the warm start and after
GRPO-GR and the run's provenance, and the report is one page whose links reach every evaluation report and rollout
page."""

import json
from collections import Counter

import pytest

from grit.cli import main
from grit.data import load_samples
from grit.data.shapes.world import write_shapes
from grit.models.loading import load_policy
from grit.models.tiny import TinySpec, save_tiny
from grit.quickstart import _eval
from test_report import check_links, check_page


def test_quickstart_runs_every_stage_and_reports(tmp_path, capsys):
    save_tiny(tmp_path / "micro", TinySpec(size="micro"))
    out = tmp_path / "qs"
    args = [
        "quickstart",
        "--out",
        str(out),
        "--base",
        str(tmp_path / "micro"),
        "--n_eval",
        "12",
        "--warm_steps",
        "2",
        "--warm_examples",
        "16",
        "--warm_agree",  # a random micro model's two answers rarely agree
        "false",
        "--max_steps",
        "2",
        "--num_generations",
        "4",
        "--per_device_train_batch_size",
        "4",
        "--max_completion_length",
        "24",
        "--save_steps",
        "1",
        "--viewer_every",
        "1",
        "--warm_soup",  # two warm starts on their own questions, their weights averaged
        "2",
        "--max_objects",  # a denser world than the default, as an option
        "8",
        "--max_count",
        "6",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "warm grounded" in printed and "report:" in printed
    assert "2 warm starts of 2 SFT steps" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["table"]) == {"attribute", "counting", "existence", "spatial", "all"}
    for row in summary["table"].values():
        assert row["base_direct_accuracy"] is not None and row["warm_grounded_format"] is not None
    assert summary["grpo_steps"] == 2 and len(summary["targets"]) == 7
    assert set(summary["gain_over_warm_start"]) == set(summary["table"])  # GRPO-GR's own part, per family
    gains = summary["gain_over_base_direct"]  # paired over the same held-out questions
    assert gains["all"]["n"] == 12 and sum(g["n"] for f, g in gains.items() if f != "all") == 12
    for fam, gain in gains.items():
        row = summary["table"][fam]
        assert gain["unpaired"] == 0, fam
        assert gain["gain"] == pytest.approx(row["grit_grounded_accuracy"] - row["base_direct_accuracy"], abs=1e-4), (
            fam
        )
    assert "minus base direct accuracy" in printed
    for stage in ("base-direct", "base-grounded", "warm-grounded", "grit-grounded", "grit-direct"):
        assert (out / "eval" / stage / "metrics.json").exists(), stage
    page = (out / "report.html").read_text()
    assert "Before and after" in page and "warm grounded accuracy" in page and "95 % interval" in page
    linked = set(check_links(check_page(page), out))
    pages = {*out.glob("eval/*/report.html"), *out.glob("grpo/rollouts/step-*.html")}
    assert len(pages) == 5 + 2 and pages <= linked and out / "grpo" / "log.jsonl" in linked
    for other in pages:
        check_page(other.read_text())
    assert summary["provenance"]["seed"] == 0 and "torch" in summary["provenance"]["versions"]
    assert f"commit {summary['provenance']['git_commit']}" in page
    headers = [line for line in printed.splitlines() if line.startswith("[")]
    assert [h.split(":")[0] for h in headers] == ["[1/5] data", "[2/5] base eval", "[3/5] warm start"] + [
        "[4/5] GRPO-GR",
        "[5/5] eval",
    ]
    assert "{'" not in printed and "FutureWarning" not in printed
    # a second run into the same folder is refused without --overwrite, and nothing was deleted
    assert main(args) == 2
    assert (out / "summary.json").exists()
    counts = Counter(json.loads(line)["answer"] for line in (out / "data" / "train.jsonl").open())
    assert {"5", "6"} <= set(counts) and "7" not in counts
    assert summary["quickstart"]["max_count"] == 6 and summary["quickstart"]["base"] == str(tmp_path / "micro")
    assert main(["quickstart", "--out", str(tmp_path / "x"), "--max_count", "7"]) == 2
    assert "max_count: 7 with max_objects 6; a scene must hold the counted objects" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_gain_of_exactly_zero_meets_a_target_of_at_least_zero_and_a_missing_one_meets_nothing():
    from grit.quickstart_summary import _targets

    def gain(g, ci=0.03):
        return {"gain": g, "ci95": ci}

    overall = {"format_compliance": 0.97, "union_iou": 0.7}
    gains = {"spatial": gain(0.3), "counting": gain(-0.03), "all": gain(0.0, 0.02)}
    met = _targets({"total": 300}, overall, gains, {"all": gain(0.0)}, {"all": gain(0.0)})
    assert all(met.values()), met  # GRPO-GR's own part 0.000 (as a run of the quickstart gave) is ">= 0"
    gains["counting"] = gain(-0.031)
    missing = _targets({"total": 300}, {"format_compliance": None, "union_iou": None}, gains, {"all": gain(None)}, {})
    assert [k for k, v in missing.items() if not v] == [
        "no family below base direct by more than its interval",
        "GRPO-GR >= warm start, all",
        "format compliance >= 0.95",
        "grounding IoU >= 0.6, not below the warm start beyond its interval",
    ]


def test_an_evaluation_names_the_weights_it_evaluated(tmp_path):
    # The warm start is trained in memory on the base's policy and saved to OUT/warm; its evaluation named the base.
    save_tiny(tmp_path / "micro", TinySpec(size="micro"))
    write_shapes(tmp_path / "w", n=30, seed=1)
    policy, samples = load_policy(tmp_path / "micro"), load_samples(tmp_path / "w" / "test.jsonl")[:2]
    _eval(policy, samples, "grounded", tmp_path / "base", 8)
    _eval(policy, samples, "grounded", tmp_path / "warm-grounded", 8, model=tmp_path / "warm")
    info = {
        name: json.loads((tmp_path / name / "metrics.json").read_text())["info"] for name in ("base", "warm-grounded")
    }
    assert info["base"]["model"] == str(policy.path) and info["warm-grounded"]["model"] == str(tmp_path / "warm")
