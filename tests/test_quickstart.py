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


def test_quickstart_over_seeds_writes_their_table_resumes_and_refuses_other_settings(tmp_path, capsys):
    save_tiny(tmp_path / "micro", TinySpec(size="micro"))
    out = tmp_path / "seeds"
    own = ["quickstart", "--seeds", "0,1", "--out", str(out), "--base", str(tmp_path / "micro"), "--n_eval", "8"]
    own += ["--warm_steps", "1", "--warm_examples", "8", "--warm_soup", "1", "--warm_agree", "false"]
    train = ["--max_steps", "1", "--num_generations", "4", "--per_device_train_batch_size", "4"]
    train += ["--max_completion_length", "16", "--save_steps", "1", "--viewer_every", "1"]
    args = own + train
    assert main(args) == 0
    printed = capsys.readouterr().out
    summaries = {s: json.loads((out / f"seed-{s}" / "summary.json").read_text()) for s in (0, 1)}
    assert [summaries[s]["provenance"]["seed"] for s in (0, 1)] == [0, 1]
    assert summaries[0]["train_overrides"][:2] == ["--max_steps", "1"]
    result = json.loads((out / "seeds.json").read_text())
    assert result["seeds"] == [0, 1]
    after = [summaries[s]["table"]["all"]["grit_grounded_accuracy"] for s in (0, 1)]
    assert [r["after_grpo"] for r in result["rows"]] == after
    assert result["mean"]["after_grpo"] == pytest.approx(sum(after) / 2)
    gains = [summaries[s]["gain_over_base_direct"]["all"]["gain"] for s in (0, 1)]
    spread = abs(gains[0] - gains[1]) / 2  # the sd of two values over sqrt(2)
    assert result["gain_t_ci95"] == pytest.approx(12.7062 * spread, rel=1e-4)
    for target, met in result["targets_met"].items():
        assert met == sum(summaries[s]["targets"][target] for s in (0, 1)), target
    table = (out / "seeds.md").read_text()
    assert table in printed and "| mean of 2 |" in table and "Seeds meeting each target:" in table
    assert len([line for line in table.splitlines() if line.startswith("| 0 |") or line.startswith("| 1 |")]) == 2

    # Run again: both seeds are read, none is run again, the table is the same.
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("finished before with these settings") == 2 and "[1/5] data" not in printed
    assert (out / "seeds.md").read_text() == table

    # The same fields in another form and order are the same settings.
    moved = [*own, "--viewer_every=1", "--save_steps", "1", "--max_completion_length=16", *train[:6]]
    assert main(moved) == 0
    assert capsys.readouterr().out.count("finished before with these settings") == 2
    # Other settings in a finished run: refused before any seed runs, naming the field, and nothing is touched.
    other = [*args, "--warm_lr", "0.001"]
    other[2] = "2,0,1"
    assert main(other) == 2
    assert "warm_lr: 0.0003 -> 0.001" in capsys.readouterr().err
    assert not (out / "seed-2").exists() and (out / "seeds.md").read_text() == table
    # A run copied into another seed's folder is not that seed's: refused, naming the seed it is.
    (out / "seed-1" / "summary.json").write_text((out / "seed-0" / "summary.json").read_text())
    assert main(args) == 2
    assert "seed-1 holds seed 0's run (quickstart.seed in its summary.json), not seed 1's" in capsys.readouterr().err
    # A seed stopped before its end (no summary) is run again only with --overwrite, and gives the same figures.
    (out / "seed-1" / "summary.json").unlink()
    assert main(args) == 2
    assert "unfinished run of seed 1" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("finished before with these settings") == 1 and printed.count("[1/5] data") == 1
    assert json.loads((out / "seed-1" / "summary.json").read_text())["table"] == summaries[1]["table"]

    # A file of the user's in the folder, even one named like grit's, a summary that is not one, and seeds that do
    # not parse, are refused with a clear error, and nothing of the user's is touched.
    (out / "notes.txt").write_text("mine")
    (out / "seed-2020-notes").mkdir()
    (out / "seeds.md").write_text("my own table")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and "seed-2020-notes" in err and "seeds.md" in err
    assert (out / "seeds.md").read_text() == "my own table" and (out / "notes.txt").exists()
    for name in ("notes.txt", "seeds.md"):
        (out / name).unlink()
    (out / "seed-2020-notes").rmdir()
    (out / "seed-0" / "summary.json").write_text("[1, 2]")
    assert main(args) == 2
    assert "seed-0/summary.json: not a quickstart summary" in capsys.readouterr().err
    assert main(["quickstart", "--seeds", "3-1", "--out", str(tmp_path / "y")]) == 2
    assert "seeds: '3-1' in '3-1' runs backwards; write 1-3" in capsys.readouterr().err
    assert main(["quickstart", "--seeds", "0-2", "--seed", "4", "--out", str(tmp_path / "y")]) == 2
    assert "give one of them" in capsys.readouterr().err and not (tmp_path / "y").exists()
