"""What real users type: bad inputs get one clear message (file, line, field, fix) and exit 2, never a traceback, a
silent nan or an empty report; ``--overwrite`` starts an output folder clean but never deletes a user's file."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import grit.grpo
from grit.cli import main
from grit.outputs import SHAPES_OUTPUTS, TRAIN_OUTPUTS, OutputFolderError, clear_outputs, unknown_entries


def old_run(folder: Path) -> Path:
    """An earlier grit train run: a checkpoint, a rollout page, plots, metrics, a model card."""
    (folder / "checkpoint-7").mkdir(parents=True)
    (folder / "checkpoint-7" / "trainer_state.json").write_text('{"global_step": 7}')
    (folder / "rollouts").mkdir()
    (folder / "rollouts" / "step-000007.html").write_text("<html>")
    (folder / "plots").mkdir()
    (folder / "plots" / "rewards.png").write_bytes(b"png")
    (folder / "metrics.json").write_text('{"log_history": [], "global_step": 7}')
    (folder / "log.jsonl").write_text('{"step": 5, "loss": 0.1}\n')
    (folder / "README.md").write_text(
        "# Model Card\nIt has been trained using [TRL](https://github.com/huggingface/trl)."
    )
    (folder / "runs" / "Dec06_10-00-00_host").mkdir(parents=True)
    (folder / "runs" / "Dec06_10-00-00_host" / "events.out.tfevents.1.host").write_bytes(b"tb")
    (folder / "model").mkdir()
    for name in ("config.json", "model.safetensors", "chat_template.jinja", "training_args.bin"):
        (folder / "model" / name).write_bytes(b"x")
    (folder / "checkpoint-7" / "global_step7").mkdir()
    (folder / "checkpoint-7" / "global_step7" / "mp_rank_00_model_states.pt").write_bytes(b"x")
    (folder / "checkpoint-7" / "rng_state.pth").write_bytes(b"x")
    return folder


def test_clear_outputs_removes_only_grits_files_and_refuses_others(tmp_path):
    run = old_run(tmp_path / "run")
    (run / "plots" / "my_notes.txt").write_text("mine")  # a folder named like grit's, holding a user file
    (run / "data.csv").write_text("mine")
    assert unknown_entries(run, TRAIN_OUTPUTS) == ["data.csv", "plots/my_notes.txt"]
    with pytest.raises(OutputFolderError, match=r"did not write \(data.csv, plots/my_notes.txt\)"):
        clear_outputs(run, TRAIN_OUTPUTS)
    assert (run / "checkpoint-7").exists() and (run / "data.csv").exists()  # nothing removed
    (run / "plots" / "my_notes.txt").unlink()
    (run / "data.csv").unlink()
    assert clear_outputs(run, TRAIN_OUTPUTS) and not any(run.iterdir())
    assert clear_outputs(tmp_path / "absent", SHAPES_OUTPUTS) == []


@pytest.mark.parametrize(
    "mine",
    [
        "README.md",
        "metrics.json",
        "log.jsonl",
        "runs/my_experiment_notes.txt",
        "model/my_weights.bin",
        "checkpoint-mine/important.txt",
    ],
)
def test_clear_outputs_keeps_a_user_file_named_or_placed_like_grits(tmp_path, mine):
    """A user's README, or a user's file in a folder named like grit's, is refused by --overwrite, not deleted."""
    run = old_run(tmp_path / "run")
    path = run / mine
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# my notes" if mine == "README.md" else "mine")
    assert mine in unknown_entries(run, TRAIN_OUTPUTS) or path.parent.name in unknown_entries(run, TRAIN_OUTPUTS)
    with pytest.raises(OutputFolderError, match="did not write"):
        clear_outputs(run, TRAIN_OUTPUTS)
    assert path.read_text() in ("# my notes", "mine") and (run / "checkpoint-7").exists()


@pytest.fixture
def fake_training(tmp_path, monkeypatch):
    """``grit train`` with GRPOTrainer replaced by a stand-in that records the output folder it starts in."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    data = tmp_path / "train.jsonl"
    data.write_text("")
    seen = {}

    class Trainer:
        def __init__(self, out):
            self.out = Path(out)
            self.state = SimpleNamespace(
                log_history=[], global_step=0, save_to_json=lambda path: Path(path).write_text('{"global_step": 0}')
            )

        accelerator = SimpleNamespace(wait_for_everyone=lambda: seen.setdefault("waited", True))

        def is_world_process_zero(self):
            return seen.get("rank", 0) == 0

        def train(self, resume_from_checkpoint=None):
            seen["entries"] = sorted(p.name for p in self.out.iterdir())
            seen["resume"] = resume_from_checkpoint

        def save_model(self, folder):  # as transformers': every process calls it, the first writes
            if self.is_world_process_zero():
                Path(folder).mkdir(parents=True, exist_ok=True)

    def build_trainer(args, grpo, extra_callbacks=(), progress=None):
        policy = SimpleNamespace(processor=SimpleNamespace(save_pretrained=lambda folder: None))
        return Trainer(grpo.output_dir), policy, []

    monkeypatch.setattr(grit.grpo, "build_trainer", build_trainer)
    argv = ["train", "--model", str(model), "--train_data", str(data), "--use_cpu", "true", "--report_to", "none"]
    return argv, seen


def test_train_writes_the_runs_files_from_the_first_process_only(fake_training, tmp_path, capsys):
    # Under accelerate every process runs grit train: the others must not write the same files at the same time.
    argv, seen = fake_training
    seen["rank"] = 1
    run = tmp_path / "run"
    run.mkdir()  # as the first process makes it while the others wait
    assert main([*argv, "--output_dir", str(run)]) == 0
    assert sorted(p.name for p in run.iterdir()) == [] and seen["waited"]
    assert "trained" not in capsys.readouterr().out
    seen["rank"] = 0
    assert main([*argv, "--output_dir", str(run), "--overwrite", "true"]) == 0
    assert (run / "metrics.json").exists() and "trained 0 steps" in capsys.readouterr().out
    (run / "mine.txt").write_text("mine")  # every process refuses it, so none waits for a first that stopped
    for rank in (1, 0):
        seen["rank"] = rank
        assert main([*argv, "--output_dir", str(run), "--overwrite", "true"]) == 2
        assert "holds files grit did not write (mine.txt)" in capsys.readouterr().err
    assert (run / "mine.txt").read_text() == "mine" and (run / "metrics.json").exists()


def test_train_overwrite_starts_clean(fake_training, tmp_path):
    argv, seen = fake_training
    run = old_run(tmp_path / "run")
    assert main([*argv, "--output_dir", str(run), "--overwrite", "true"]) == 0
    assert seen["entries"] == ["grit_train_config.json"] and seen["resume"] is None  # no old checkpoint left


def test_train_overwrite_refuses_unknown_files_and_deletes_nothing(fake_training, tmp_path, capsys):
    argv, seen = fake_training
    run = old_run(tmp_path / "run")
    (run / "my_data.jsonl").write_text("mine")
    assert main([*argv, "--output_dir", str(run), "--overwrite", "true"]) == 2
    err = capsys.readouterr().err
    assert "holds files grit did not write (my_data.jsonl)" in err and "Traceback" not in err
    assert (run / "my_data.jsonl").read_text() == "mine" and (run / "checkpoint-7").is_dir() and not seen
    assert main([*argv, "--output_dir", str(run), "--overwrite", "true", "--resume", "true"]) == 2
    assert "overwrite, resume: pass one" in capsys.readouterr().err


@pytest.mark.parametrize("steps", ["0", "-3"])
def test_train_refuses_max_steps_that_would_silently_mean_epochs(fake_training, tmp_path, capsys, steps):
    argv, seen = fake_training
    assert main([*argv, "--output_dir", str(tmp_path / "run"), "--max_steps", steps]) == 2
    assert f"max_steps: {steps} is not a number of steps; give 1 or more" in capsys.readouterr().err and not seen


@pytest.mark.parametrize(
    "model, message",
    [
        ("Qwen/Qwen2.5-VL-3B-Instruct", "hf download Qwen/Qwen2.5-VL-3B-Instruct"),
        ("/nope/model", "folder /nope/model does not exist"),
        ("./nope", "folder ./nope does not exist"),
    ],
)
def test_train_names_a_missing_model_by_what_it_looks_like(fake_training, tmp_path, capsys, model, message):
    argv, _ = fake_training
    argv = [a if i != 2 else model for i, a in enumerate(argv)]
    assert main([*argv, "--output_dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and "config.json" not in err
    assert ("hf download" in err) == model.startswith("Qwen/")


def test_shapes_overwrite_leaves_nothing_stale(tmp_path, capsys):
    world = tmp_path / "world"
    assert main(["data", "shapes", "--out", str(world), "--n", "300"]) == 0
    assert (world / "grit20.jsonl").exists() and (world / "images" / "train-000200.png").exists()
    assert main(["data", "shapes", "--out", str(world), "--n", "20", "--overwrite"]) == 0
    assert not (world / "grit20.jsonl").exists()  # 16 train samples give no GRIT-20: the old one is gone
    assert sorted(p.name for p in (world / "images").iterdir())[-1] == "val-000001.png"  # no image beyond n
    assert main(["data", "check", str(world / "train.jsonl")]) == 0


def test_shapes_overwrite_refuses_a_folder_with_other_files(tmp_path, capsys):
    world = tmp_path / "world"
    assert main(["data", "shapes", "--out", str(world), "--n", "20"]) == 0
    (world / "images" / "holiday.jpg").write_bytes(b"mine")
    assert main(["data", "shapes", "--out", str(world), "--n", "20", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "holds files grit did not write (images/holiday.jpg)" in err
    assert (world / "images" / "holiday.jpg").read_bytes() == b"mine" and (world / "train.jsonl").exists()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from grit.data.shapes.world import write_shapes

    root = tmp_path_factory.mktemp("inputs")
    write_shapes(root / "world", n=20, seed=0)
    return root / "world"


def first_line(world: Path) -> str:
    return (world / "test.jsonl").read_text().splitlines()[0]


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"question": "q\xff"}\n', "bad.jsonl:1: not UTF-8 text (byte 0xff"),
        (b"", "bad.jsonl: the file is empty: no samples to read"),
        (b"\n\n", "bad.jsonl: the file is empty"),
        (b'{"width": ' + b"9" * 5000 + b"}\n", "bad.jsonl:1: a value cannot be read (Exceeds the limit"),
        ('{"id": "a"}\n'.encode("utf-16"), "bad.jsonl: is UTF-16 text, not UTF-8. Fix: save the file as UTF-8"),
        (
            b'{"id": "a", "question": "how many\n',
            "bad.jsonl:1: not valid JSON: the line ends inside the string opened",
        ),
        (b'{"id": "a", "answer": "2"\n{"id": "b"}\n', "bad.jsonl:1: not valid JSON: the line ends before its object"),
        (b'{"id": "a", "answer": "2", "id": "b"}\n', "bad.jsonl:1: field 'id': is set twice on the line"),
    ],
)
def test_unreadable_data_files_name_file_and_line(world, tmp_path, capsys, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    for argv in (
        ["data", "show", str(bad), "--out", str(tmp_path / "sheet.png")],
        ["score", "--data", str(bad), "--completions", str(bad)],
        ["eval", "--model", "/nope", "--data", str(bad), "--out", str(tmp_path / "ev")],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert main(["data", "check", str(bad)]) in (1, 2)  # 1: the report lists the problem
    assert message in "".join(capsys.readouterr())


@pytest.mark.parametrize(
    "answer, kind, problem",
    [
        ("maybe", "yesno", "'maybe' is not yes or no"),
        ("-", "count", "'-' states no single number"),
        ("5%", "count", "'5%' is a percentage or an amount, not a count"),
    ],
)
def test_an_answer_its_type_cannot_check_is_refused_not_scored_0(world, tmp_path, capsys, answer, kind, problem):
    row = json.loads(first_line(world)) | {"answer": answer, "answer_type": kind}
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps(row) + "\n")
    completions = tmp_path / "c.jsonl"
    completions.write_text(json.dumps({"id": row["id"], "completion": f"<answer> {answer} </answer>"}) + "\n")
    assert main(["score", "--data", str(data), "--images", str(world), "--completions", str(completions)]) == 2
    err = capsys.readouterr().err
    assert f"d.jsonl:1: field 'answer': {problem}, but answer_type is {kind}" in err and "Traceback" not in err


def test_two_box_fields_and_half_characters_are_refused_not_dropped(world, tmp_path, capsys):
    row = json.loads(first_line(world))
    data = tmp_path / "d.jsonl"
    lines = [row | {"boxes": [[1, 1, 9, 9]]}, row | {"question": "How many \ud800?"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert main(["data", "check", str(data), "--images", str(world)]) == 1
    out = capsys.readouterr().out
    assert "d.jsonl:1: field 'boxes': given with 'bboxs'. Fix: keep one of 'bboxs', 'boxes' per line" in out
    assert "d.jsonl:2: field 'question': holds '\\ud800', half of a character, not text" in out
    argv = ["infer", "--model", str(tmp_path), "--image", str(world / "images" / "test-000000.png")]
    assert main([*argv, "--question", "How many \udcff?"]) == 2  # a byte that is not UTF-8, as argv carries it
    assert "--question holds bytes that are not UTF-8 text" in capsys.readouterr().err


def test_a_whole_number_past_the_float_range_is_refused_not_a_traceback(world, tmp_path, capsys):
    row = json.loads(first_line(world))
    big = "1" + "0" * 400  # JSON reads it as an int, which no float holds
    lines = [json.dumps(row | {"bboxs": [[1, 2, 3, "BIG"]]}), json.dumps(row | {"width": "BIG"})]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(line.replace('"BIG"', big) + "\n" for line in lines))
    assert main(["data", "check", str(data), "--images", str(world)]) == 1
    out, err = capsys.readouterr()
    assert "d.jsonl:1: field 'bboxs': box 0 is [1, 2, 3, 1000" in out and "(412 characters), not four numbers" in out
    assert "d.jsonl:2: field 'width': must be a positive whole number, got 1000" in out and "Traceback" not in err
    completions = tmp_path / "c.jsonl"
    completions.write_text(json.dumps({"id": row["id"], "completion": "<answer> 1 </answer>"}) + "\n")
    assert main(["score", "--data", str(data), "--images", str(world), "--completions", str(completions)]) == 2
    assert "not four numbers" in capsys.readouterr().err


def test_a_byte_order_mark_is_accepted(world, tmp_path, capsys):
    data = tmp_path / "bom.jsonl"
    data.write_bytes(b"\xef\xbb\xbf" + first_line(world).encode() + b"\n")
    assert main(["data", "check", str(data), "--images", str(world)]) == 0
    completions = tmp_path / "completions.jsonl"
    completions.write_bytes(b'\xef\xbb\xbf{"id": "test-000000", "completion": "<answer>1</answer>"}\n')
    assert main(["score", "--data", str(data), "--images", str(world), "--completions", str(completions)]) == 0


def test_empty_completions_and_folders_given_as_files(world, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["score", "--data", str(world / "test.jsonl"), "--completions", str(empty)]) == 2
    assert "empty.jsonl: the file is empty: no completions to read" in capsys.readouterr().err
    assert main(["data", "check", str(world)]) == 2
    assert f"{world}: is a folder, not a JSONL file" in capsys.readouterr().err


def test_a_total_that_never_applies_is_na_not_nan():
    from grit.score import summary_table

    record = {"rewards": {"count": None}, "total": None, "format": {"strict": False}, "boxes": []}
    table = summary_table([record], ["count"], [1.0])
    assert "nan" not in table and "n/a" in table.splitlines()[2]


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["eval", "--model", "m", "--data", "d.jsonl", "--out", "o", "--limit", "-1"],
            "limit: -1 is below the minimum 1",
        ),
        (
            ["eval", "--model", "m", "--data", "d.jsonl", "--out", "o", "--limit", "0"],
            "limit: 0 is below the minimum 1",
        ),
        (["eval", "--model", "m", "--data", "d", "--out", "o", "--batch_size", "0"], "batch_size: 0 is below"),
        (["infer", "--model", "m", "--image", "i", "--question", "q", "--max_new_tokens", "0"], "max_new_tokens: 0"),
        (["data", "shapes", "--out", "o", "--n", "-5"], "n: -5 is below the minimum 1"),
        (["score", "--data", "d", "--completions", "c", "--max_pixels", "0"], "max_pixels: 0 is below the minimum 1"),
        (["train", "--num_generations", "0"], "num_generations: 0 is below the minimum 2"),
        (["train", "--learning_rate", "-1"], "learning_rate: -1.0 is below the minimum 0"),
        (["train", "--zero_std_alert", "2"], "zero_std_alert: 2.0 is above the maximum 1"),
        (["train", "--temperature", "0"], "temperature: 0.0 must be above 0"),
        (["train", "--top_k", "-4"], "top_k: -4 is below the minimum 0"),
        (["train", "--seed", "4294967296"], "seed: 4294967296 is above the maximum 4294967295"),
        (["quickstart", "--warm_lr", "0"], "warm_lr: 0.0 must be above 0"),
        (["quickstart", "--top_k", "-4"], "top_k: -4 is below the minimum 0"),  # a negative value, not a flag
        (["data", "shapes", "--out", "o", "--image_size", "9000"], "image_size: 9000 is above the maximum 8000"),
    ],
)
def test_numbers_out_of_range_are_refused_before_any_work(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written


def test_field_problems_checks_min_and_max_in_one_place():
    from dataclasses import dataclass, field

    from grit.config import field_problems

    @dataclass
    class Share:
        share: float = field(default=0.5, metadata={"min": 0, "max": 1})

    assert field_problems(Share(1.5)) == ["share: 1.5 is above the maximum 1"]
    assert field_problems(Share(1.5), {"share": (None, 2)}) == []


def eval_folder(folder: Path, ids: list[str], accuracy: float = 1.0) -> Path:
    """A grit eval output folder: metrics.json and predictions.jsonl for data set ``d``."""
    folder.mkdir(parents=True)
    metrics = {"all": {"samples": len(ids), "accuracy": accuracy}}
    (folder / "metrics.json").write_text(json.dumps({"info": {}, "metrics": {"d": metrics, "overall": metrics}}))
    rows = [{"data": "d", "id": i, "accuracy": accuracy} for i in ids]
    (folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_compare_takes_folders_and_warns_on_different_samples(tmp_path, capsys):
    a = eval_folder(tmp_path / "a", ["1", "2", "3"], 0.5)
    b = eval_folder(tmp_path / "b", ["1", "2", "4"], 1.0)
    assert main(["eval", "--compare", str(a), str(b / "metrics.json")]) == 0
    out, err = capsys.readouterr()
    assert "+0.500" in out and "d: different samples (2 in common, of 3 and 3)" in err
    c = eval_folder(tmp_path / "c", ["1", "2", "3"])
    assert main(["eval", "--compare", str(a), str(c)]) == 0
    assert "different samples" not in capsys.readouterr().err
    (c / "predictions.jsonl").unlink()
    (a / "predictions.jsonl").unlink()
    (b / "predictions.jsonl").unlink()
    assert main(["eval", "--compare", str(b), str(c)]) == 0  # counts equal: no warning from metrics.json alone
    assert "different" not in capsys.readouterr().err


def test_compare_refuses_a_cut_predictions_file_one_folder_twice_and_flags_it_would_ignore(tmp_path, capsys):
    a = eval_folder(tmp_path / "r1" / "eval", ["1", "2", "3"], 0.5)
    b = eval_folder(tmp_path / "r2" / "eval", ["1", "2", "3"], 1.0)
    assert main(["eval", "--compare", str(a), str(b)]) == 0
    assert f"A: {a}\nB: {b}" in capsys.readouterr().out  # two folders named eval: told apart by their paths
    assert main(["eval", "--compare", str(a), str(a / "metrics.json")]) == 2
    assert "names" in capsys.readouterr().err
    assert main(["eval", "--compare", str(a), str(b), "--limit", "3", "--prompt", "direct"]) == 2
    assert "it takes no --prompt, --limit" in capsys.readouterr().err
    lines = (b / "predictions.jsonl").read_text().splitlines()
    (b / "predictions.jsonl").write_text(lines[0] + "\n")  # a run stopped while writing, or another run's file
    assert main(["eval", "--compare", str(a), str(b)]) == 2
    assert "holds 1 predictions, its metrics.json 3 samples" in capsys.readouterr().err
    (a / "predictions.jsonl").unlink()  # no paired interval either way: the counts are not read
    assert main(["eval", "--compare", str(a), str(b)]) == 0


@pytest.mark.parametrize("listed, count", [("[A]", "1 evaluation;"), ("[A, A, A]", "3 evaluations;")])
def test_compare_in_a_config_file_takes_two_folders(tmp_path, capsys, listed, count):
    a = eval_folder(tmp_path / "a", ["1"])
    config = tmp_path / "c.yaml"
    config.write_text(f"compare: {listed.replace('A', str(a))}\n")
    assert main(["eval", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert count in err and "give two grit eval output folders" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "does not exist; give a grit eval output folder or its metrics.json"),
        (lambda p: p.mkdir(), "holds no metrics.json"),
        (lambda p: p.write_text("not json"), "is not a metrics.json of grit eval"),
        (lambda p: p.write_text('{"accuracy": 1}'), 'no "metrics" per data set'),
        (lambda p: p.write_bytes(b"\xff\xfe"), "is not a metrics.json of grit eval"),
        (
            lambda p: p.write_text('{"metrics": {"d": {"all": {"accuracy": "high"}}}}'),
            "metrics.d.all.accuracy is 'high', not a number",
        ),
        (lambda p: p.write_text('{"metrics": {"d": {"all": 3}}}'), "metrics.d.all is not an object of metrics"),
        (
            lambda p: p.write_text('{"metrics": {"d": {"all": {"accuracy": NaN}}}}'),
            "metrics.d.all.accuracy is nan, not a number",
        ),
    ],
)
def test_compare_refuses_what_is_not_an_eval_result(tmp_path, capsys, make, message):
    a = eval_folder(tmp_path / "a", ["1"])
    make(tmp_path / "x")
    assert main(["eval", "--compare", str(a), str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    from grit.models.tiny import TinySpec, save_tiny

    folder = tmp_path_factory.mktemp("micro") / "model"
    save_tiny(folder, TinySpec(size="micro"))
    return folder


@pytest.mark.parametrize(
    "file, edit, said",
    [
        (
            "config.json",
            lambda c: {**c, "text_config": {**c["text_config"], "hidden_size": 2 * c["text_config"]["hidden_size"]}},
            "do not fit together",
        ),
        ("config.json", lambda c: {**c, "text_config": {**c["text_config"], "vocab_size": 5}}, "do not fit together"),
        (
            "config.json",
            lambda c: {**c, "text_config": {**c["text_config"], "num_hidden_layers": "two"}},
            "cannot read the model config",
        ),
        ("chat_template.jinja", lambda _: "{% garbage", "chat template"),
    ],
)
def test_a_damaged_model_folder_is_named_with_what_to_do(world, micro, tmp_path, capsys, file, edit, said):
    # Folders that pass the file checks but hold edited or damaged contents: one line, exit 2, no traceback.
    from grit.models.loading import ModelLoadError, load_policy

    folder = tmp_path / "m"
    shutil.copytree(micro, folder)
    path = folder / file
    if file.endswith(".json"):
        path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    else:
        path.write_text(edit(path.read_text()))
    with pytest.raises(ModelLoadError, match=said):
        load_policy(folder)
    image = str(world / "images" / "test-000000.png")
    argv = ["infer", "--model", str(folder), "--image", image, "--question", "How many?"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "copy" in err and "Traceback" not in err


def test_out_without_extension_gets_png_and_odd_extensions_are_refused(world, micro, tmp_path, capsys):
    assert main(["data", "show", str(world / "test.jsonl"), "--out", str(tmp_path / "sheet"), "--n", "2"]) == 0
    assert (tmp_path / "sheet.png").is_file() and f"wrote {tmp_path / 'sheet.png'}" in capsys.readouterr().out
    image = str(world / "images" / "test-000000.png")
    argv = ["infer", "--model", str(micro), "--image", image, "--question", "How many?", "--max_new_tokens", "4"]
    assert main([*argv, "--out", str(tmp_path / "drawn")]) == 0
    assert (tmp_path / "drawn.png").is_file()
    assert main([*argv, "--out", str(tmp_path / "drawn.txt")]) == 2
    assert "--out: cannot write a .txt image; give a .png" in capsys.readouterr().err
    assert main(["data", "show", str(world / "test.jsonl"), "--out", str(tmp_path)]) == 2
    assert "is a folder; give an image file" in capsys.readouterr().err
    assert main(["data", "show", str(world / "test.jsonl"), "--out", "/dev/null", "--overwrite"]) == 2
    assert "--out: /dev/null is not a plain file" in capsys.readouterr().err and not Path("/dev/null.png").exists()


@pytest.mark.parametrize("prompt", ["direct", "cot", "grounded"])
@pytest.mark.parametrize("text", ["  7 ", "<think>one</think> <answer>7</answer>", "I think it is 7"])
def test_infer_prints_the_answer_eval_scores(prompt, text):
    from grit.chain import parse
    from grit.infer import InferResult, describe
    from grit.metrics import prediction_of

    result = InferResult(text, parse(text), (), prompt)
    assert result.answer == prediction_of(text, prompt)
    assert f"answer: {prediction_of(text, prompt)!r}" in describe(result)
    if prompt == "direct":
        assert result.answer is not None


def test_grit_recipes_lists_every_shipped_recipe_with_its_first_comment(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    shipped = sorted(Path(__file__).parents[1].joinpath("recipes").glob("*.yaml"))
    assert shipped and all(p.stem in out for p in shipped)
    assert "GRPO-GR on the shipped tiny base" in out and "relative to" in out
    train, pretrain = out.split("\ngrit train --config recipes/NAME.yaml:\n")[1].split("\ngrit pretrain --config")
    assert "  shapes_tiny_cpu " in train and "  shapes_base_ground_long " in pretrain
    assert "  shapes_base" not in train and "  shapes_tiny_cpu" not in pretrain


@pytest.mark.parametrize("recipe", sorted(p.name for p in (Path(__file__).parents[1] / "recipes").glob("*.yaml")))
def test_grit_recipes_names_the_command_that_takes_each_recipe(recipe):
    from grit.cli.recipes import command
    from grit.train_config import TrainConfigError, load_recipe

    path = Path(__file__).parents[1] / "recipes" / recipe
    if command(path) == "pretrain":
        with pytest.raises(TrainConfigError, match="is a `grit pretrain` recipe"):
            load_recipe(path, ["--bf16", "false", "--use_cpu", "true"])
    else:
        load_recipe(path, ["--bf16", "false", "--use_cpu", "true"])  # grit train takes it


def test_every_recipe_states_its_path_rule():
    for recipe in Path(__file__).parents[1].joinpath("recipes").glob("*.yaml"):
        assert "relative to the working directory" in recipe.read_text(), recipe


def test_a_recipe_run_elsewhere_says_paths_start_at_the_working_directory(tmp_path, monkeypatch, capsys):
    recipe = Path(__file__).parents[1] / "recipes" / "shapes_tiny_cpu.yaml"
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert f"relative paths, in recipes too, start at the working directory {tmp_path}" in err
    assert "train_data: runs/quickstart/data/train.jsonl does not exist" in err and "hf download" not in err


@pytest.mark.parametrize("model", ["/nope/model", "./nope", "~/nope-grit-model", "src/nope"])
def test_a_missing_local_model_is_never_sent_to_the_hub(world, tmp_path, capsys, model):
    image = str(world / "images" / "test-000000.png")
    assert main(["infer", "--model", model, "--image", image, "--question", "q"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "hf download" not in err


def test_the_readme_api_example_runs_as_written():
    import subprocess
    import sys

    root = Path(__file__).parents[1]
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "api.py")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "answer 'yes', complete chain True" in done.stdout and "weighted total" in done.stdout


@pytest.mark.parametrize(
    "content, message",
    [
        (b"learning_rate: 0.1\nprompt: \xff\n", "c.yaml:2: not UTF-8 text (byte 0xff)"),
        (b"", "c.yaml is empty: nothing to do"),
        (b"max_steps: " + b"9" * 5000 + b"\n", "c.yaml: a value cannot be read"),
    ],
)
def test_unreadable_config_files_name_the_file(tmp_path, capsys, content, message):
    (tmp_path / "c.yaml").write_bytes(content)
    assert main(["train", "--config", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_field_set_twice_is_refused_not_kept_last(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("max_steps: 3\nlearning_rate: 0.1\nmax_steps: 5\n")
    assert main(["train", "--config", str(tmp_path / "c.yaml")]) == 2
    assert "c.yaml: set twice: max_steps (lines 1 and 3); keep one of each" in capsys.readouterr().err
    (tmp_path / "q.yaml").write_text("out: o\nworld:\n  n: 1\n  n: 2\n")  # at any depth
    assert main(["quickstart", "--config", str(tmp_path / "q.yaml")]) == 2
    assert "set twice: n (lines 3 and 4)" in capsys.readouterr().err


def test_train_without_a_recipe_asks_for_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grit train: error: grit train needs a recipe: grit train --config recipes/shapes_tiny")


@pytest.mark.parametrize(
    "flag, message",
    [
        (["--model", "x"], "--model: the quickstart trains the warm start it makes (OUT/warm); pass --base DIR"),
        (["--train_data=d.jsonl"], "--train_data: the quickstart trains on the shapes world it makes"),
        (["--train-data", "d.jsonl"], "--train_data: the quickstart trains on the shapes world it makes"),
        (
            ["--output_dir", "x"],
            "--output_dir: the quickstart writes GRPO-GR's run to OUT/grpo; choose OUT with --out",
        ),
        (["--num_generations", "3"], "num_generations: 3 chains a prompt do not divide the 32 completions a step"),
    ],
)
def test_quickstart_refuses_training_fields_it_sets_itself_before_any_work(tmp_path, capsys, flag, message):
    assert main(["quickstart", "--out", str(tmp_path / "qs"), *flag]) == 2
    err = capsys.readouterr().err
    assert message in err and "generation_batch_size" not in err
    assert not (tmp_path / "qs").exists()


def test_a_training_value_named_like_a_quickstart_field_is_a_value():
    from grit.quickstart import QuickstartConfig, run_quickstart
    from grit.train_config import TrainConfigError

    with pytest.raises(TrainConfigError, match="max_stepz"):  # the recipe's check, not "--model: the quickstart ..."
        run_quickstart(QuickstartConfig(out="unused"), ["--run_name", "model", "--max_stepz", "1"])


def test_shapes_refuses_a_world_whose_splits_would_be_empty(tmp_path, capsys):
    assert main(["data", "shapes", "--out", str(tmp_path / "w"), "--n", "3"]) == 2
    assert "--n 3 leaves the val and test splits empty (80/10/10 train/val/test); give --n 7 or more" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "w").exists()
    assert main(["data", "shapes", "--out", str(tmp_path / "w"), "--n", "7"]) == 0
    assert "wrote " + str(tmp_path / "w" / "test.jsonl") + " (1 samples)" in capsys.readouterr().out


def test_cross_modal_without_a_judge_is_refused_not_skipped(world, tmp_path, capsys):
    argv = ["eval", "--model", "m", "--data", str(world / "test.jsonl"), "--out", str(tmp_path / "e")]
    assert main([*argv, "--cross_modal"]) == 2
    assert "cross_modal: the paper's box-text consistency test asks an LLM judge" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_a_config_with_a_byte_order_mark_is_read(tmp_path, capsys):
    (tmp_path / "c.yaml").write_bytes(b"\xef\xbb\xbflearning_rat: 0.1\n")
    assert main(["train", "--config", str(tmp_path / "c.yaml")]) == 2
    assert "c.yaml:1: unknown field 'learning_rat'" in capsys.readouterr().err  # read past the mark


def test_quickstart_checks_its_base_before_any_work(tmp_path, capsys):
    assert main(["quickstart", "--base", "/nope/model", "--out", str(tmp_path / "qs")]) == 2
    err = capsys.readouterr().err
    assert "model folder /nope/model does not exist" in err and "hf download" not in err
    assert not (tmp_path / "qs").exists()


def test_compare_warns_when_the_same_ids_ask_other_questions(tmp_path, capsys):
    a = eval_folder(tmp_path / "a", ["1", "2"], 0.5)
    b = eval_folder(tmp_path / "b", ["1", "2"], 1.0)
    rows = [{"data": "d", "id": i, "question": f"How many {i}?", "answer": "1", "accuracy": 1.0} for i in "12"]
    (b / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))  # another world, same ids
    assert main(["eval", "--compare", str(a), str(b)]) == 0
    assert "d: 2 ids with another question or answer on each side (first: 1)" in capsys.readouterr().err
    metrics = json.loads((b / "metrics.json").read_text())
    metrics["metrics"]["e"] = metrics["metrics"].pop("d")  # another data file: only the overall rows meet
    (b / "metrics.json").write_text(json.dumps(metrics))
    assert main(["eval", "--compare", str(a), str(b)]) == 0
    assert "overall: data sets in only one of them (d, e)" in capsys.readouterr().err


def test_an_out_of_the_wrong_kind_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("taken.jsonl").write_text("mine\n")
    Path("folder").mkdir()
    eval_argv = ["eval", "--model", "m", "--data", "d.jsonl", "--out", "taken.jsonl", "--overwrite"]
    assert main(eval_argv) == 2
    assert "--out: taken.jsonl is a file, not a folder" in capsys.readouterr().err
    score_argv = ["score", "--data", "d.jsonl", "--completions", "c.jsonl", "--overwrite", "--out"]
    assert main([*score_argv, "folder"]) == 2
    assert "--out: folder is a folder; give a file in it, such as folder/scored.jsonl" in capsys.readouterr().err
    assert main([*score_argv, "new/"]) == 2
    assert "--out: new/ names a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "taken.jsonl"]
    assert Path("taken.jsonl").read_text() == "mine\n"


def test_score_never_writes_over_what_it_reads_and_names_a_bad_tokenizer(world, tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text(first_line(world) + "\n")
    completions = tmp_path / "c.jsonl"
    completions.write_text('{"id": "test-000000", "completion": "<answer> 1 \\ud800 </answer>"}\n')
    argv = ["score", "--data", str(data), "--images", str(world), "--completions", str(completions), "--overwrite"]
    for target, flag in ((data, "--data"), (completions, "--completions")):
        before = target.read_text()
        assert main([*argv, "--out", str(target)]) == 2
        assert f"is the {flag} file this command reads" in capsys.readouterr().err
        assert target.read_text() == before
    assert main([*argv, "--tokenizer", str(tmp_path / "absent")]) == 2
    assert "absent: not a folder; give a model or tokenizer folder" in capsys.readouterr().err
    assert main([*argv, "--tokenizer", str(tmp_path)]) == 2
    assert "no tokenizer could be loaded from this folder" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "scored.jsonl")]) == 0  # a lone surrogate is written escaped
    assert json.loads((tmp_path / "scored.jsonl").read_text())["id"] == "test-000000"


def test_infer_refuses_an_empty_question_and_names_a_folder_given_as_the_image(world, tmp_path, capsys):
    argv = ["infer", "--model", str(tmp_path / "m"), "--image"]
    assert main([*argv, str(world / "images"), "--question", "How many?"]) == 2
    err = capsys.readouterr().err
    assert f"image {world / 'images'} is a folder, not an image file; give the path of one image in it" in err
    assert main([*argv, str(world / "images" / "test-000000.png"), "--question", "  "]) == 2
    assert "--question is empty" in capsys.readouterr().err
    rows = [json.loads(line) for line in (world / "test.jsonl").read_text().splitlines()][:1]
    rows[0]["image"] = "images"
    (tmp_path / "d.jsonl").write_text(json.dumps(rows[0]) + "\n")
    assert main(["data", "check", str(tmp_path / "d.jsonl"), "--images", str(world)]) == 1
    assert "is a folder, not an image file. Fix: give the path of one image in it" in capsys.readouterr().out


def test_quickstart_checks_the_training_fields_before_any_work(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--extra_rewards", "nope.fn", "--max_steps", "0"]) == 2
    err = capsys.readouterr().err
    assert "extra_rewards: " in err and "max_steps: 0 is not a number of steps" in err and "Traceback" not in err
    assert not out.exists()  # no stage ran


@pytest.mark.parametrize("command", [["model", "tiny", "--size", "micro", "--overwrite"], ["pretrain"]])
def test_a_file_given_as_the_model_or_run_folder_is_refused(tmp_path, capsys, command):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    assert main([*command, "--out", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"{taken} is a file, not a folder" in err and "Traceback" not in err
    assert taken.read_text() == "mine"


@pytest.mark.parametrize("where", ["data/notes.txt", "grpo/plots/mine.txt"])
def test_quickstart_overwrite_refuses_a_users_file_in_its_folders_before_any_work(tmp_path, capsys, where):
    out = tmp_path / "qs"
    (out / where).parent.mkdir(parents=True)
    (out / where).write_text("mine")
    assert main(["quickstart", "--out", str(out), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert f"holds files grit did not write ({where.split('/', 1)[1]})" in err and "Traceback" not in err
    assert (out / where).read_text() == "mine" and sorted(p.name for p in out.iterdir()) == [where.split("/")[0]]


def test_train_names_a_pretrain_recipe_given_to_it(capsys):
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "shapes_base.yaml"
    assert main(["train", "--config", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "is a `grit pretrain` recipe" in err and f"grit pretrain --config {recipe}" in err
    assert "unknown field" not in err  # one line, not a list of every pretraining field


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="bf16 runs where there is a GPU")
@pytest.mark.parametrize("how", ["recipe", "flag"])
def test_train_with_bf16_on_a_cpu_names_the_field_and_the_way_out(tmp_path, capsys, how):
    recipe = tmp_path / "gpu.yaml"
    recipe.write_text("model: m\nbf16: true\n" if how == "recipe" else "model: m\n")
    argv = ["train", f"--config={recipe}"] + (["--bf16", "true"] if how == "flag" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--bf16 false --use_cpu true" in err
    assert (str(recipe) if how == "recipe" else "the --bf16 flag") in err


def test_data_shapes_overwrite_never_replaces_a_users_file_named_like_a_split(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["data", "shapes", "--out", str(out), "--n", "20"]) == 0
    assert main(["data", "shapes", "--out", str(out), "--n", "20", "--seed", "1", "--overwrite"]) == 0  # its own: ok
    (out / "val.jsonl").write_text('{"id": "mine", "question": "q", "answer": "a", "image": "x.png"}\n')
    capsys.readouterr()
    assert main(["data", "shapes", "--out", str(out), "--n", "20", "--overwrite"]) == 2
    assert "val.jsonl holds rows grit's shapes world did not write" in capsys.readouterr().err
    assert '"mine"' in (out / "val.jsonl").read_text()  # nothing replaced
    assert (out / "train.jsonl").exists()  # nor removed


@pytest.mark.parametrize("mine", ["grit20.jsonl", "base_tasks.jsonl", "images/test-000000.png"])
def test_data_shapes_without_overwrite_never_replaces_a_file_it_would_write(tmp_path, capsys, mine):
    out = tmp_path / "d"
    (out / mine).parent.mkdir(parents=True)
    (out / mine).write_bytes(b"mine")
    assert main(["data", "shapes", "--out", str(out), "--n", "200", "--base_tasks", "5"]) == 2
    err = capsys.readouterr().err
    assert mine.split("/")[0] in err and "--overwrite" in err
    assert (out / mine).read_bytes() == b"mine" and not (out / "train.jsonl").exists()


def test_an_image_given_as_the_data_file_is_one_problem(world, capsys):
    image = next((world / "images").iterdir())
    assert main(["data", "check", str(image)]) == 2
    err = capsys.readouterr().err
    assert "is a PNG image, not a JSONL file" in err and err.count("\n") == 1


def test_a_reader_that_goes_away_stops_the_cli_quietly():
    import subprocess
    import sys

    child = subprocess.Popen(
        [sys.executable, "-m", "grit", "train", "--help-all"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    child.stdout.close()  # as `| head` does once it has read enough; the help is written after this
    err = child.stderr.read().decode()
    assert child.wait(timeout=120) == 141 and "Traceback" not in err and "BrokenPipeError" not in err


def test_demo_names_a_taken_port_and_an_unknown_host_before_loading_a_model(tmp_path, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", "--model", str(tmp_path), "--port", str(port)]) == 2
        assert f"--port {port}: cannot serve there" in capsys.readouterr().err
    before = signal.getsignal(signal.SIGTERM)
    assert main(["demo", "--model", str(tmp_path), "--host", "not.a.real.host.invalid"]) == 2
    assert "--host not.a.real.host.invalid: not a name or address this machine has" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before  # the demo's stop handler is put back


def test_score_refuses_a_judge_address_or_cache_it_cannot_use(world, tmp_path, capsys):
    completions = tmp_path / "c.jsonl"
    completions.write_text('{"id": "test-000000", "completion": "<answer> 1 </answer>"}\n')
    argv = ["score", "--data", str(world / "test.jsonl"), "--completions", str(completions), "--judge", "openai"]
    argv += ["--judge_model", "m", "--judge_base_url"]
    assert main([*argv, "notaurl"]) == 2
    assert "judge base_url 'notaurl' is not an http(s) URL" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes, not a cache\n")
    assert main([*argv, "http://127.0.0.1:9/v1", "--judge_cache", str(tmp_path)]) == 2
    assert f"judge cache {tmp_path} is a folder" in capsys.readouterr().err
    assert main([*argv, "http://127.0.0.1:9/v1", "--judge_cache", str(notes)]) == 2
    assert f"judge cache {notes} is not an SQLite database" in capsys.readouterr().err
    assert notes.read_text() == "my notes, not a cache\n"


def test_eval_skip_invalid_records_what_it_left_out(world, micro, tmp_path, capsys):
    lines = (world / "train.jsonl").read_text().splitlines()[:3]
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join([lines[0], '{"id": "broken"}', lines[1], lines[2]]) + "\n")
    out = tmp_path / "ev"
    argv = ["eval", "--model", str(micro), "--data", str(data), "--images", str(world), "--out", str(out)]
    assert main([*argv, "--max_new_tokens", "4", "--skip_invalid"]) == 0
    info = json.loads((out / "metrics.json").read_text())["info"]
    assert info["skipped"].startswith(f"{data}: 3 samples; skipped 1 invalid lines (")
    assert info["skipped"].endswith("): lines 2") and "skipped: " in (out / "report.html").read_text()


def test_data_shapes_refuses_a_mix_of_zeros_instead_of_equal_weights(tmp_path, capsys):
    assert main(["data", "shapes", "--out", str(tmp_path / "d"), "--n", "20", "--mix", "0", "0", "0", "0"]) == 2
    assert "mix: [0.0, 0.0, 0.0, 0.0] gives every family weight 0" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_overwrite_takes_an_empty_log_as_grits_and_a_users_metrics_as_theirs(tmp_path):
    """A run stopped before its first log leaves an empty log.jsonl (removing it loses nothing); a metrics.json or
    log.jsonl of the user's own, named like grit's, is refused by its content."""
    run = old_run(tmp_path / "run")
    (run / "log.jsonl").write_text("")
    assert unknown_entries(run, TRAIN_OUTPUTS) == []
    (run / "metrics.json").write_text('{"my accuracy": 0.9}')
    (run / "log.jsonl").write_text("day 1: tried lr 1e-4\n")
    assert unknown_entries(run, TRAIN_OUTPUTS) == ["log.jsonl", "metrics.json"]


def test_compare_names_the_line_of_a_broken_predictions_file_and_refuses_run_flags(tmp_path, capsys):
    a = eval_folder(tmp_path / "a", ["1", "2"])
    b = eval_folder(tmp_path / "b", ["1", "2"])
    for content, message in [
        (b'{"data": "d", "id": "1"}\n{"id": broken\n', "line 2 is not JSON"),
        (b"[1]\n", "line 1 is not a prediction (a JSON object)"),
        (b"\xff\xfe{}\n", "is not UTF-8 text"),
    ]:
        (b / "predictions.jsonl").write_bytes(content)
        assert main(["eval", "--compare", str(a), str(b)]) == 2
        err = capsys.readouterr().err
        assert message in err and "move the file away" in err and "Traceback" not in err
    (b / "predictions.jsonl").unlink()
    assert main(["eval", "--compare", str(a), str(b)]) == 0  # none there: the deltas, no paired interval
    assert "no paired interval" in capsys.readouterr().out
    assert main(["eval", "--compare", str(a), str(b), "--out", str(tmp_path / "x")]) == 2
    assert "it takes no --out" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_eval_refuses_a_data_file_given_twice(world, micro, tmp_path, capsys):
    data = str(world / "test.jsonl")
    argv = ["eval", "--model", str(micro), "--data", data, data, "--out", str(tmp_path / "o"), "--limit", "1"]
    assert main(argv) == 2
    assert "more than once; give each file once" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_eval_keeps_a_data_file_named_overall_apart_from_the_overall_row(world, micro, tmp_path):
    """A file named overall.jsonl was stored under "overall", and the every-file row then replaced it."""
    import shutil

    shutil.copy(world / "test.jsonl", tmp_path / "overall.jsonl")
    data = [str(tmp_path / "overall.jsonl"), str(world / "val.jsonl")]
    out = tmp_path / "o"
    assert (
        main(
            ["eval", "--model", str(micro), "--data", *data, "--out", str(out), "--limit", "1", "--images", str(world)]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert set(metrics) == {data[0], "val", "overall"} and metrics["overall"]["all"]["samples"] == 2


def torch_save(obj, path):
    import torch

    torch.save(obj, path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda m: (m / "model.safetensors").unlink(), "cannot load the weights in"),
        (lambda m: (m / "model.safetensors").write_text("garbage"), "cannot load the weights in"),
        (lambda m: [(m / f).unlink() for f in ("tokenizer.json", "tokenizer_config.json")], "has no tokenizer"),
        (lambda m: (m / "tokenizer.json").write_text("{bad"), "tokenizer.json is not valid JSON (line 1)"),
        (lambda m: (m / "grit_model.json").write_text("garbage"), "grit_model.json is not valid JSON (line 1)"),
        (lambda m: (m / "processor_config.json").unlink(), "the folder needs the processor files"),
        (
            lambda m: (m / "chat_template.jinja").unlink(),
            "has no chat template (chat_template.jinja, or chat_template.json",
        ),
    ],
)
def test_a_model_folder_missing_or_with_a_damaged_file_is_named_not_a_traceback(
    world, micro, tmp_path, capsys, damage, message
):
    model = tmp_path / "model"
    shutil.copytree(micro, model)
    damage(model)
    image = str(world / "images" / "test-000000.png")
    assert main(["infer", "--model", str(model), "--image", image, "--question", "How many?"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(model) in err and "Traceback" not in err and "huggingface.co" not in err


def test_infer_refuses_to_draw_over_its_own_input_image(world, micro, tmp_path, capsys):

    image = tmp_path / "scene.png"
    shutil.copy(world / "images" / "test-000000.png", image)
    before = image.read_bytes()
    argv = ["infer", "--model", str(micro), "--image", str(image), "--question", "How many?"]
    assert main([*argv, "--out", str(image), "--overwrite"]) == 2
    assert "is the --image file this command reads" in capsys.readouterr().err and image.read_bytes() == before


def test_data_shapes_refuses_a_file_as_its_out_folder(tmp_path, capsys):
    target = tmp_path / "notes.jsonl"
    target.write_text("mine\n")
    assert main(["data", "shapes", "--out", str(target), "--n", "10"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and target.read_text() == "mine\n"


@pytest.mark.parametrize("key", ["bbox", "bboxes", "bbox_2d"])
def test_a_misspelt_box_field_is_refused_not_loaded_without_boxes(world, tmp_path, key):
    from grit.data import DataError, load_samples

    row = json.loads((world / "test.jsonl").read_text().splitlines()[0])
    row[key] = row.pop("bboxs", None) or row.pop("evidence_boxes", None) or row.pop("boxes", None) or [[1, 1, 5, 5]]
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match=f"{key}.*rename it to 'bboxs'"):
        load_samples(data, world)


def test_score_refuses_min_pixels_above_max_pixels(tmp_path, capsys):
    data, completions = tmp_path / "d.jsonl", tmp_path / "c.jsonl"
    data.write_text("")
    completions.write_text("")
    argv = ["score", "--data", str(data), "--completions", str(completions), "--out", str(tmp_path / "s.jsonl")]
    assert main([*argv, "--min_pixels", "100", "--max_pixels", "10"]) == 2
    assert "--min_pixels 100 is above --max_pixels 10" in capsys.readouterr().err


def test_a_file_given_as_the_image_folder_is_said_once(world, tmp_path, capsys):
    data = str(world / "test.jsonl")
    assert main(["data", "check", data, "--images", data]) != 0
    out = capsys.readouterr()
    said = (out.out + out.err).count("is a file, given as the image folder")
    assert said == 1 and "does not exist" not in out.out + out.err and "Traceback" not in out.err


def test_an_image_folder_that_does_not_exist_is_said_once(world, tmp_path, capsys):
    data = str(world / "test.jsonl")
    assert main(["data", "check", data, "--images", str(tmp_path / "nowhere")]) != 0
    out = capsys.readouterr()
    assert (out.out + out.err).count("the image folder does not exist") == 1
    assert "image file" not in out.out + out.err and "Traceback" not in out.err


def test_train_overwrite_refuses_a_model_inside_the_folder_it_would_clear(fake_training, tmp_path, capsys):
    argv, seen = fake_training
    run = old_run(tmp_path / "run")  # run/model: an earlier run's trained model, trained on from here
    argv = [a if a != str(tmp_path / "model") else str(run / "model") for a in argv]
    assert main([*argv, "--output_dir", str(run), "--overwrite", "true"]) == 2
    err = capsys.readouterr().err
    assert f"--model {run / 'model'} lies inside output_dir {run}" in err and "Traceback" not in err
    assert (run / "model" / "model.safetensors").exists() and not seen


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda c: (c / "trainer_state.json").unlink(), "checkpoint-7 is incomplete (no trainer_state.json)"),
        (  # neither transformers' weights nor DeepSpeed's shards
            lambda c: [(c / "model.safetensors").unlink(), shutil.rmtree(c / "global_step7")],
            "checkpoint-7 is incomplete (no model.safetensors, optimizer.pt, scheduler.pt)",
        ),
        (lambda c: (c / "model.safetensors").write_bytes(b"garbage"), "model.safetensors cannot be read"),
        (lambda c: (c / "rng_state.pth").unlink(), "checkpoint-7 is incomplete (no rng_state.pth)"),
        (lambda c: (c / "trainer_state.json").write_text("{"), "trainer_state.json is not JSON"),
        (lambda c: (c / "trainer_state.json").write_text("[]"), "trainer_state.json holds a list"),
        (lambda c: (c / "trainer_state.json").write_text('{"global_step": "x"}'), "has no step count"),
        (  # without DeepSpeed's shards, the optimizer and scheduler are files of their own: resumed fresh if missing
            lambda c: shutil.rmtree(c / "global_step7"),
            "checkpoint-7 is incomplete (no optimizer.pt, scheduler.pt)",
        ),
        (
            lambda c: [
                shutil.rmtree(c / "global_step7"),
                torch_save({}, c / "scheduler.pt"),
                (c / "optimizer.pt").write_bytes(b"cut short"),
            ],
            "optimizer.pt is damaged (not the archive torch saves)",
        ),
        (None, None),  # a LoRA run's checkpoint: adapters in a folder per adapter, no full weights
    ],
)
def test_train_resume_names_an_incomplete_or_damaged_last_checkpoint(fake_training, tmp_path, capsys, damage, message):
    import torch
    from safetensors.torch import save_file

    argv, seen = fake_training
    run = old_run(tmp_path / "run")
    save_file({"w": torch.zeros(2)}, str(run / "checkpoint-7" / "model.safetensors"))
    (run / "checkpoint-3").mkdir()  # an older one: the last is the highest step, not the last name in order
    (run / "checkpoint-final").mkdir()  # a name transformers never resumes from
    assert main([*argv, "--output_dir", str(run), "--resume", "true"]) == 0 and seen["resume"] is True
    if damage is None:
        (run / "checkpoint-7" / "model.safetensors").unlink()
        shutil.rmtree(run / "checkpoint-7" / "global_step7")
        (run / "checkpoint-7" / "default").mkdir()
        save_file({"w": torch.zeros(2)}, str(run / "checkpoint-7" / "default" / "adapter_model.safetensors"))
        for state in ("optimizer.pt", "scheduler.pt"):  # a LoRA run's own, beside its adapters
            torch.save({}, run / "checkpoint-7" / state)
        assert main([*argv, "--output_dir", str(run), "--resume", "true"]) == 0
        return
    damage(run / "checkpoint-7")
    assert main([*argv, "--output_dir", str(run), "--resume", "true"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--learning_rate", "nan"], "learning_rate: nan is not a finite number"),
        (["train", "--beta", "inf"], "beta: inf is not a finite number"),
        (["train", "--reward_weight_overrides", "count=nan"], "'count=nan': the weight is not a finite number"),
        (["quickstart", "--warm_lr", "nan"], "warm_lr: nan is not a finite number"),
        (["data", "shapes", "--n", "10", "--mix", "inf", "1", "1", "1"], "mix: inf is not a finite number"),
        (["pretrain", "--task_mix", "{grounding: a}"], "{'grounding': 'a'}: grounding: 'a' is not a weight; give a"),
        (
            ["pretrain", "--task_mix", "{grounding: 1, direct: null}"],
            "direct: None is not a weight; give a number >= 0",
        ),
        (["pretrain", "--task_mix", "{grounding: 10" + "0" * 400 + "}"], "is not a weight; give a number >= 0"),
        (["pretrain", "--task_mix", "{groundin: 1}"], "'groundin' is not one of grounding, direct,"),
        (
            ["pretrain", "--task_mix", "{grounding:1}"],
            "'grounding:1' has no weight; write {grounding: 1}, with a space",
        ),
        (["pretrain", "--reasoning_families", "{spatial: [1]}"], "{'spatial': [1]}: spatial: [1] is not a weight"),
    ],
)
def test_non_finite_and_non_numeric_values_are_refused_before_any_work(fake_training, tmp_path, capsys, argv, message):
    if argv[0] == "train":
        argv = [*fake_training[0], *argv[1:], "--output_dir", str(tmp_path / "run")]
    out = ["--out", str(tmp_path / "out")] if argv[0] != "train" else []
    assert main([*argv, *out]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["eval", "--model", "{micro}", "--data", "{data}", "--out", "{blocked}/ev"],
        ["infer", "--model", "{micro}", "--image", "{image}", "--question", "How many?", "--out", "{blocked}/x.png"],
        ["data", "show", "{data}", "--out", "{blocked}/sheet.png"],
        ["score", "--data", "{data}", "--completions", "{data}", "--out", "{blocked}/scored.jsonl"],
        ["model", "tiny", "--size", "micro", "--out", "{blocked}/m"],
        ["data", "shapes", "--n", "10", "--out", "{blocked}/s"],
        ["pretrain", "--out", "{blocked}/p"],
        ["quickstart", "--out", "{blocked}/q"],
    ],
)
def test_an_output_under_a_file_is_refused_before_any_work(world, micro, tmp_path, capsys, command):
    blocked = tmp_path / "notes.txt"  # a file where the output's folder would have to be
    blocked.write_text("mine")
    values = dict(micro=micro, data=world / "test.jsonl", image=world / "images" / "test-000000.png", blocked=blocked)
    assert main([a.format(**values) for a in command]) == 2
    err = capsys.readouterr().err
    assert f"{blocked} is a file, not a folder; choose another --out" in err and "Traceback" not in err
    assert blocked.read_text() == "mine"


def test_data_show_refuses_to_draw_over_an_image_of_its_data(world, tmp_path, capsys):

    copy = tmp_path / "world"
    shutil.copytree(world, copy)
    image = copy / "images" / "test-000000.png"
    before = image.read_bytes()
    assert main(["data", "show", str(copy / "test.jsonl"), "--out", str(image), "--overwrite"]) == 2
    assert "is an image of" in capsys.readouterr().err and image.read_bytes() == before


REWARD_MODULE = """
import dataclasses
import json


def short(completions, **kw):
    return [1.0]


def nothing(completions, **kw):
    return None


def words(completions, **kw):
    return ["a"] * len(completions)


def nans(completions, **kw):
    return [float("nan")] * len(completions)


def fine(completions, **kw):
    return [0.5 if i else None for i in range(len(completions))]


def broken(completions, **kw):
    return [json.loads("{bad") for c in completions]


def count(completions, **kw):
    return [0.7] * len(completions)
"""


@pytest.mark.parametrize(
    "name, message",
    [
        ("short", "returned 1 value for 2 completions"),
        ("nothing", "returned NoneType, not a list"),
        ("words", "returned 'a' (str) for completion 1"),
        ("nans", "returned nan for completion 1 (return None where the reward does not apply)"),
        ("broken", "raised JSONDecodeError: Expecting property name enclosed in double quotes"),
        ("fine", None),
    ],
)
def test_a_users_reward_that_returns_the_wrong_thing_is_named(world, tmp_path, monkeypatch, capsys, name, message):
    (tmp_path / "my_rewards_mod.py").write_text(REWARD_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    ids = [json.loads(line)["id"] for line in (world / "test.jsonl").read_text().splitlines()[:2]]
    chain = "<think> a </think> <rethink> b </rethink> <answer> 2 </answer>"
    completions = tmp_path / "completions.jsonl"
    completions.write_text("".join(json.dumps({"id": i, "completion": chain}) + "\n" for i in ids))
    argv = ["score", "--data", str(world / "test.jsonl"), "--completions", str(completions)]
    assert main([*argv, "--extra_rewards", f"my_rewards_mod.{name}"]) == (2 if message else 0)
    err = capsys.readouterr().err
    if message:
        assert f"reward my_rewards_mod.{name} {message}" in err and "Traceback" not in err
    if name == "broken":  # the line of the reward's own file, not of the library it called
        assert "my_rewards_mod.py:" in err and "decoder.py" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["data", "shapes", "--n", "10", "--n", "20"], "--n is given twice; give it once"),
        (["data", "shapes", "--n=10", "--seed", "1", "--n", "20"], "--n is given twice; give it once"),
        (["quickstart", "--max_steps", "3", "--max_steps=4"], "--max_steps is given twice; give it once"),
    ],
)
def test_a_flag_given_twice_is_refused_not_kept_last(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda rows: json.dumps(rows), "items, not JSONL (one object per line)"),
        (lambda rows: json.dumps(rows, indent=2), "items, not JSONL (one object per line)"),
        (lambda rows: json.dumps(rows[0], indent=2), "holds one JSON object written over several lines, not JSONL"),
        (lambda rows: "\ufeff" + json.dumps(rows), "items, not JSONL (one object per line)"),  # a byte-order mark
    ],
)
def test_a_json_document_given_as_jsonl_is_one_problem_with_the_fix(world, tmp_path, capsys, write, message):
    rows = [json.loads(line) for line in (world / "test.jsonl").read_text().splitlines()]
    data = tmp_path / "data.json"
    data.write_text(write(rows))
    assert main(["data", "check", str(data)]) == 2
    err = capsys.readouterr().err
    assert message in err and "jq -c" in err and len(err.splitlines()) == 1


def test_a_yaml_syntax_error_names_the_file_not_a_unicode_string(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("n: 3\n  bad: [\n")
    assert main(["data", "shapes", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"in {config}, line 2" in err and "<unicode string>" not in err


def test_completions_under_another_key_name_it_and_every_problem_is_counted_once(world, tmp_path, capsys):
    ids = [json.loads(line)["id"] for line in (world / "test.jsonl").read_text().splitlines()]
    completions = tmp_path / "completions.jsonl"
    completions.write_text("".join(json.dumps({"id": i, "text": "<answer> 2 </answer>"}) + "\n" for i in ids))
    assert main(["score", "--data", str(world / "test.jsonl"), "--completions", str(completions)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith("Fix: rename 'text' to 'completion'") and "more problems)" not in lines[0]
    shown = min(len(ids) - 1, 19)
    assert lines[1] == f"{len(ids) - 1} more problem{'s' if len(ids) > 2 else ''}:"
    assert len(lines) == 2 + shown + (len(ids) - 1 > 19)


def test_model_tiny_overwrite_leaves_no_stale_shard_index(tmp_path):
    from grit.models.loading import load_policy
    from grit.models.tiny import TinySpec, build_tiny, save_tiny

    save_tiny(tmp_path, TinySpec("micro"))
    (tmp_path / "model.safetensors").unlink()
    model, _ = build_tiny(TinySpec("micro"))
    model.save_pretrained(tmp_path, max_shard_size="100KB")  # the earlier tiny model saved again in shards
    assert (tmp_path / "model.safetensors.index.json").exists()
    save_tiny(tmp_path, TinySpec("micro"), overwrite=True)
    assert not (tmp_path / "model.safetensors.index.json").exists() and not list(tmp_path.glob("model-0*"))
    load_policy(tmp_path)


@pytest.mark.parametrize("built_by", [None, "grit pretrain"])
def test_model_tiny_overwrite_refuses_a_model_it_did_not_build(tmp_path, capsys, built_by):
    folder = tmp_path / "trained"
    folder.mkdir()
    shards = {"model-00001-of-00002.safetensors": b"weights 1", "model-00002-of-00002.safetensors": b"weights 2"}
    for name, data in shards.items():
        (folder / name).write_bytes(data)
    (folder / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    if built_by:
        (folder / "grit_model.json").write_text(json.dumps({"built_by": built_by}))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert main(["model", "tiny", "--out", str(folder), "--size", "micro", "--overwrite", "true"]) == 2
    err = capsys.readouterr().err
    assert "only replaces a model `grit model tiny` wrote" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize("name", ["a_sync", "an_async"])
def test_a_users_async_reward_stays_async_and_is_checked(tmp_path, monkeypatch, name):
    import asyncio
    import inspect

    import numpy as np
    import torch

    from grit.rewards import RewardOutputError, get_reward

    (tmp_path / "my_async_mod.py").write_text(
        "def a_sync(completions, **kw):\n    return kw['out']\n\n\n"
        "async def an_async(completions, **kw):\n    return kw['out']\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reward = get_reward(f"my_async_mod.{name}")
    assert inspect.iscoroutinefunction(reward) == (name == "an_async")  # TRL awaits it only when it looks async

    def call(out):
        result = reward(["a", "b"], out=out)
        return asyncio.run(result) if inspect.iscoroutine(result) else result

    for fine in ([1.0, None], [True, False], torch.tensor([0.5, 1.0]), np.array([0, 1])):  # as TRL takes them
        assert call(fine) is fine
    with pytest.raises(RewardOutputError, match="returned 1 value for 2 completions"):
        call([1.0])


def test_ctrl_c_stops_a_command_with_a_line_not_a_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    command = [sys.executable, "-m", "grit", "data", "shapes", "--n", "200000", "--out", str(tmp_path / "world")]
    # A shell that runs the tests in the background (CI) starts them with SIGINT ignored, and a child inherits that:
    # give the command the default, as a terminal's Ctrl+C finds it.
    default = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=default)
    deadline = time.monotonic() + 120
    while not (tmp_path / "world" / "images").is_dir() and time.monotonic() < deadline:
        time.sleep(0.2)  # until it is at work, past its imports
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "grit: stopped" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "command, recipe",
    [
        (["eval"], "shapes_tiny_cpu.yaml"),
        (["pretrain"], "shapes_tiny_cpu.yaml"),
        (["data", "shapes"], "shapes_base.yaml"),
    ],
)
def test_another_commands_recipe_is_named_as_such_not_listed_field_by_field(tmp_path, capsys, command, recipe):
    path = Path(__file__).parents[1] / "recipes" / recipe
    assert main([*command, "--config", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "fields are not this command's" in err and "`grit recipes` names the command" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--prompt", "direct"], "prompt: direct asks for no chain"),
        (["--prompt", "direct", "--extra_rewards", "grounding"], "prompt: direct asks for no chain"),
        (["--reward_weights", "1", "1", "1", "1", "1", "1"], "reward_weights: grit sets TRL's reward_weights"),
        (["--lora_r", "4"], "lora_r, lora_alpha: they set LoRA's adapters, which are off; add --lora true"),
        (["--lora", "true", "--lora_alpha", "0"], "lora_alpha: 0 would scale the adapters by 0/r"),
        (["--min_pixels", "50000", "--max_pixels", "3136"], "min_pixels 50000 is above max_pixels 3136"),
        (["--eval_strategy", "steps", "--eval_steps", "1"], "eval_strategy: grit train evaluates no held-out set"),
        (["--extra_rewards", "format"], "extra_rewards: 'format' is already preset grit's term 'format'"),
        (["--extra_rewards", "grounding", "grounding"], "extra_rewards: 'grounding' is given twice; give it once"),
        (["--extra_rewards", "my_rewards_mod.count"], "is named 'count', as preset grit's term 'count'"),
        (["--reward_weight_overrides", "count=0.5", "count=0"], "reward_weight_overrides: 'count' is given twice"),
        (["--num_generations", "3", "--generation_batch_size", "6"], "generation_batch_size (6) must be divisible"),
        (["--loss_type", "foo"], "loss_type: 'foo' is not one of grpo, bnpo, dr_grpo, dapo,"),
        (["--scale_rewards", "true"], "scale_rewards: 'true' is not one of group, batch, none"),
        (["--importance_sampling_level", "seq"], "importance_sampling_level: 'seq' is not one of token, sequence"),
        (["--report_to", "foo"], "report_to: 'foo' is not one of all, azure_ml,"),  # replaces the fixture's none
        (["--resume_from_checkpoint", "run/checkpoint-5"], "resume_from_checkpoint: grit train does not read it"),
    ],
)
def test_train_settings_grit_would_override_ignore_or_fail_on_are_refused_first(
    fake_training, tmp_path, monkeypatch, capsys, extra, message
):
    (tmp_path / "my_rewards_mod.py").write_text(REWARD_MODULE)
    monkeypatch.chdir(tmp_path)  # a reward module beside the recipe is found without PYTHONPATH
    argv, seen = fake_training
    if "--report_to" in extra:
        argv = argv[: argv.index("--report_to")]
    assert main([*argv, "--output_dir", str(tmp_path / "run"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not seen


def test_a_direct_prompt_trains_when_an_extra_reward_scores_its_answers(fake_training, tmp_path, monkeypatch, capsys):
    (tmp_path / "my_rewards_mod.py").write_text(REWARD_MODULE)
    monkeypatch.chdir(tmp_path)
    argv, seen = fake_training
    extra = ["--prompt", "direct", "--extra_rewards", "my_rewards_mod.short"]
    assert main([*argv, "--output_dir", str(tmp_path / "run"), *extra]) == 0, capsys.readouterr().err
    assert seen


def test_train_keeps_a_users_files_on_resume_and_overwrite(fake_training, tmp_path, capsys):
    """--resume would write TRL's model card over a user's README.md; --overwrite removed a user's JSON in the model
    folder and pictures among the plots, since whole patterns (model/*.json, plots/*.png) counted as grit's."""
    argv, seen = fake_training
    run = old_run(tmp_path / "run")
    (run / "README.md").write_text("# My run notes")
    assert main([*argv, "--output_dir", str(run), "--resume", "true"]) == 2
    assert "holds README.md, which grit did not write and the resumed run would write over" in capsys.readouterr().err
    (run / "README.md").unlink()
    (run / "model" / "my_eval_results.json").write_text("{}")
    (run / "plots" / "figure3_for_paper.png").write_bytes(b"png")
    assert main([*argv, "--output_dir", str(run), "--overwrite", "true"]) == 2
    assert "model/my_eval_results.json, plots/figure3_for_paper.png" in capsys.readouterr().err
    assert (run / "model" / "my_eval_results.json").exists() and not seen


def test_train_data_given_twice_or_with_ids_shared_across_files_is_refused(fake_training, world, tmp_path, capsys):
    """GRIT_data files carry no id, so each line's number is its id: across files those are told apart by the file
    (the paper's recipes train on TallyQA and VSR files together); ids a file gives must differ across files."""
    from grit.data import load_samples
    from grit.grpo import distinct_ids
    from grit.train_config import TrainConfigError

    rows = [json.loads(line) for line in (world / "train.jsonl").read_text().splitlines()][:3]
    for name in ("tallyqa", "vsr"):
        lines = [
            json.dumps({**{k: v for k, v in r.items() if k != "id"}, "image": str(world / r["image"])}) for r in rows
        ]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    for name in ("ids", "more_ids"):  # the same ids, given in two files
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({**r, "image": str(world / r["image"])}) + "\n" for r in rows)
        )
    both = load_samples(tmp_path / "tallyqa.jsonl") + load_samples(tmp_path / "vsr.jsonl")
    assert [s.id for s in distinct_ids(both, 2)] == [f"{n}:{i}" for n in ("tallyqa", "vsr") for i in (1, 2, 3)]
    assert [s.id for s in distinct_ids(load_samples(tmp_path / "vsr.jsonl"), 1)] == ["1", "2", "3"]  # as before
    with pytest.raises(TrainConfigError, match=f"id '{rows[0]['id']}' is on {tmp_path / 'ids.jsonl'}:1 and"):
        distinct_ids(load_samples(tmp_path / "ids.jsonl") + load_samples(tmp_path / "more_ids.jsonl"), 2)
    argv, seen = fake_training
    twice = ["--train_data", str(tmp_path / "vsr.jsonl"), str(tmp_path / "vsr.jsonl")]
    assert main([*argv[:3], *argv[5:], "--output_dir", str(tmp_path / "run"), *twice]) == 2
    assert "vsr.jsonl is given more than once" in capsys.readouterr().err and not seen


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--lm_lr", "-0.001"], "lm_lr: -0.001 is below the minimum 0"),  # it failed after the vision stage's work
        (["--curriculum_max_objects", "10"], "curriculum_max_objects: 10 is above max_objects 6"),
        (["--image_token_weight", "-3"], "image_token_weight: -3.0 is below the minimum 0"),
        (["--grounding_present_share", "5"], "grounding_present_share: 5.0 is above the maximum 1"),
    ],
)
def test_pretrain_values_out_of_range_are_refused_before_any_work(tmp_path, capsys, extra, message):
    assert main(["pretrain", "--out", str(tmp_path / "pt"), *extra]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "pt").exists()


def test_a_generation_batch_that_holds_whole_groups_is_accepted(fake_training, tmp_path):
    """TRL's rule is the generation batch (steps_per_generation x the batch), not the batch alone: 2 x 3 holds two
    groups of 3, and was refused."""
    argv, seen = fake_training
    extra = ["--per_device_train_batch_size", "2", "--num_generations", "3", "--steps_per_generation", "3"]
    assert main([*argv, "--output_dir", str(tmp_path / "run"), *extra]) == 0 and seen["resume"] is None


def test_pretrain_into_a_folder_without_a_checkpoint_says_what_would_work(tmp_path, capsys):
    """It said "pass --resume", and --resume then said there was nothing to resume."""
    (tmp_path / "pt").mkdir()
    (tmp_path / "pt" / "notes.txt").write_text("mine")
    assert main(["pretrain", "--out", str(tmp_path / "pt")]) == 2
    assert "holds no checkpoint to resume" in capsys.readouterr().err
    assert (tmp_path / "pt" / "notes.txt").read_text() == "mine"


def test_an_empty_out_is_refused_and_never_means_the_working_folder(world, micro, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # where an empty --out would have written (and --overwrite replaced files)
    (tmp_path / "config.json").write_text("mine")
    image = str(world / "images" / "test-000000.png")
    data = str(world / "test.jsonl")
    for argv in (
        ["data", "shapes", "--n", "2"],
        ["model", "tiny", "--overwrite"],
        ["infer", "--model", str(micro), "--image", image, "--question", "How many?", "--max_new_tokens", "2"],
        ["data", "show", data],
        ["score", "--data", data, "--completions", data],
        ["quickstart"],
    ):
        assert main([*argv, "--out", ""]) == 2, argv
        err = capsys.readouterr().err
        assert "--out is empty; give a path" in err and "Traceback" not in err, argv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]
    assert (tmp_path / "config.json").read_text() == "mine"


@pytest.mark.skipif(not Path("/proc/version").is_file(), reason="needs Linux's /proc, where nobody can write")
def test_outputs_that_cannot_be_written_are_refused_before_any_work(world, micro, tmp_path, capsys):
    # Tried, not read off permission bits, which say nothing to root (CI runs as root).
    image = str(world / "images" / "test-000000.png")
    data = str(world / "test.jsonl")
    for argv in (
        ["data", "shapes", "--n", "2", "--out", "/proc/grit-world"],
        ["model", "tiny", "--out", "/proc/grit-model"],
        ["infer", "--model", str(micro), "--image", image, "--question", "How many?", "--out", "/proc/grit/x.png"],
        ["data", "show", data, "--out", "/proc/grit/sheet.png"],
        ["score", "--data", data, "--completions", data, "--out", "/proc/version", "--overwrite"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "cannot write" in err and "choose another --out" in err and "Traceback" not in err, argv


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full, a device that is always full")
def test_a_disk_that_fills_while_writing_is_named_not_a_traceback(capsys):
    examples = Path(__file__).resolve().parent.parent / "examples" / "score"
    argv = ["score", "--data", str(examples / "data.jsonl"), "--completions", str(examples / "completions.jsonl")]
    assert main([*argv, "--out", "/dev/full", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "no space left on device; free space there, or use another place" in err
    assert "Traceback" not in err


def test_eval_with_a_judge_nobody_answers_saves_the_generations_and_says_why(world, micro, tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(line + "\n" for line in (world / "test.jsonl").read_text().splitlines()[:2]))
    out = tmp_path / "ev"
    argv = ["eval", "--model", str(micro), "--data", str(data), "--images", str(world), "--out", str(out)]
    argv += ["--max_new_tokens", "4"]
    judge = ["--judge", "openai", "--judge_base_url", "http://127.0.0.1:9/v1", "--judge_model", "m"]
    assert main([*argv, *judge, "--prompt", "direct"]) == 2
    err = capsys.readouterr().err
    assert "judge call" in err and "connection x" in err and "127.0.0.1:9/v1/chat/completions" in err
    assert "check that an OpenAI-compatible server answers at http://127.0.0.1:9/v1" in err
    assert "the judge scored no answer" in err and "Traceback" not in err
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 2  # the generations are kept
    assert "connection x" in json.loads((out / "metrics.json").read_text())["info"]["judge_warning"]
    assert main([*argv, *judge, "--judge_cache", "/proc/grit/judge.sqlite", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "judge cache /proc/grit/judge.sqlite: cannot write in /proc (its file system takes no new files)" in err


def test_a_question_past_the_models_context_is_refused_or_skipped_never_scored(world, micro, tmp_path, capsys):
    # Past max_position_embeddings (4,096 here) the model writes noise that would count as wrong answers.
    long = "How many red circles are there? " * 700
    image = str(world / "images" / "test-000000.png")
    argv = ["infer", "--model", str(micro), "--image", image, "--max_new_tokens", "4"]
    assert main([*argv, "--question", long]) == 2
    err = capsys.readouterr().err
    assert "--question: the prompt is" in err and "passes the model's context of 4,096 tokens" in err
    lines = (world / "train.jsonl").read_text().splitlines()[:3]
    second = json.loads(lines[1])
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join([lines[0], json.dumps({**second, "question": long}), lines[2]]) + "\n")
    argv = ["eval", "--model", str(micro), "--data", str(data), "--images", str(world), "--max_new_tokens", "4"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert f"{data}:2: the prompt is at least" in err and "--skip_invalid" in err and "Traceback" not in err
    assert not (tmp_path / "a").exists()  # refused before anything was generated or written
    assert main([*argv, "--out", str(tmp_path / "b"), "--skip_invalid"]) == 0
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert metrics["metrics"]["d"]["all"]["samples"] == 2
    assert f"1 question too long for the model's context of 4,096 tokens: {data}:2" in metrics["info"]["skipped"]


def test_every_prompt_of_the_demo_runs_in_infer_and_eval_and_a_chainless_reply_is_no_fault(
    world, micro, tmp_path, capsys
):
    image = str(world / "images" / "test-000000.png")
    infer = ["infer", "--model", str(micro), "--image", image, "--question", "How many?", "--max_new_tokens", "3"]
    for kind in ("direct", "plain"):
        assert main([*infer, "--prompt", kind]) == 0
        assert f"format: no chain (the {kind} prompt asks for none)" in capsys.readouterr().out
    assert main([*infer, "--prompt", "grounded"]) == 0
    assert "format: does not start with <think>" in capsys.readouterr().out
    data = str(world / "test.jsonl")
    argv = ["eval", "--model", str(micro), "--data", data, "--limit", "1", "--max_new_tokens", "3", "--prompt", "sft"]
    assert main([*argv, "--out", str(tmp_path / "sft")]) == 0
    assert json.loads((tmp_path / "sft" / "metrics.json").read_text())["info"]["prompt"] == "sft"


def test_eval_names_the_flag_that_is_missing(world, micro, capsys):
    assert main(["eval", "--model", str(micro), "--data", str(world / "test.jsonl")]) == 2
    assert "grit eval needs --model, --data and --out; give --out too" in capsys.readouterr().err
    assert main(["eval", "--data", str(world / "test.jsonl")]) == 2
    assert "give --model, --out too" in capsys.readouterr().err


def test_eval_says_how_many_outputs_were_cut_at_max_new_tokens(world, micro, tmp_path, capsys):
    # A cut output is scored as it stands (wrong, unformatted): the run must say so rather than report a silent 0.
    argv = ["eval", "--model", str(micro), "--data", str(world / "test.jsonl"), "--limit", "2", "--max_new_tokens"]
    assert main([*argv, "2", "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "2 of 2 outputs stopped at --max_new_tokens 2 without finishing" in err
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["metrics"]["overall"]["all"]["stopped_at_limit"] == 2 and "limit_warning" in metrics["info"]
    rows = [json.loads(line) for line in (tmp_path / "a" / "predictions.jsonl").read_text().splitlines()]
    assert all(r["stopped_at_limit"] for r in rows)


@pytest.mark.parametrize("token", ["<|image_pad|>", "<|im_end|>"])
def test_a_question_holding_a_control_token_is_refused_by_file_and_line(world, micro, tmp_path, capsys, token):
    # The chat template would read it as an image placeholder the image does not fill, or as the turn's end.
    image = str(world / "images" / "test-000000.png")
    question = f"{token} How many red circles are there?"
    argv = ["infer", "--model", str(micro), "--image", image, "--max_new_tokens", "4", "--question", question]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--question holds '{token}', a control token" in err and "Traceback" not in err
    lines = (world / "train.jsonl").read_text().splitlines()[:3]
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join([lines[0], json.dumps({**json.loads(lines[1]), "question": question}), lines[2]]) + "\n")
    argv = ["eval", "--model", str(micro), "--data", str(data), "--images", str(world), "--max_new_tokens", "4"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert f"{data}:2: field 'question' holds '{token}'" in err and "Traceback" not in err
    assert not (tmp_path / "a").exists()
    assert main([*argv, "--out", str(tmp_path / "b"), "--skip_invalid"]) == 0
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert metrics["metrics"]["d"]["all"]["samples"] == 2
    assert f"1 question holding a control token of the model's chat template: {data}:2" in metrics["info"]["skipped"]


def test_train_and_the_demo_refuse_a_question_holding_a_control_token(world, micro, tmp_path):
    from grit.demo.ask import InputProblem, check_question
    from grit.grpo import check_prompt_lengths
    from grit.models.loading import load_policy
    from grit.train_config import TrainConfigError

    policy = load_policy(str(micro))
    sample = SimpleNamespace(question="Is it <|vision_start|> red?", source="d.jsonl:7", id="x")
    with pytest.raises(TrainConfigError, match="d.jsonl:7: field 'question' holds '<\\|vision_start\\|>'"):
        check_prompt_lengths(policy, [sample], "grounded", 16)
    with pytest.raises(InputProblem, match="control token"):
        check_question("Is it <|image_pad|> red?", policy)
    assert check_question(" Is it red? ", policy) == "Is it red?"


def test_the_demo_stream_refuses_a_question_past_the_context(world, micro):
    from grit.data.images import load_image
    from grit.models.generation import PromptTooLong
    from grit.models.loading import load_policy
    from grit.models.streaming import stream_generate

    policy = load_policy(str(micro), device="cpu")
    image = load_image(world / "images" / "test-000000.png")
    with pytest.raises(PromptTooLong, match="passes the model's context of 4,096 tokens"):
        next(stream_generate(policy, image, "Is it red? " * 1000, "direct"))


def test_infer_names_an_image_that_is_no_file_and_never_points_at_an_images_flag(micro, tmp_path, capsys):
    argv = ["infer", "--model", str(micro), "--question", "How many?", "--image"]
    assert main([*argv, str(tmp_path / "gone.png")]) == 2
    err = capsys.readouterr().err
    assert f"image file {tmp_path / 'gone.png'} does not exist; check the path" in err and "--images" not in err
    os.mkfifo(tmp_path / "pipe.png")
    assert main([*argv, str(tmp_path / "pipe.png")]) == 2
    assert "is not a regular file (a device, a pipe or a socket); give an image file" in capsys.readouterr().err


def test_data_show_keeps_a_tile_small_whatever_the_question(world, tmp_path):
    from grit.data import load_samples
    from grit.data.inspect import show_sheet

    sample = load_samples(world / "test.jsonl")[0]
    short = show_sheet([sample], n=1)
    long = show_sheet([dataclasses.replace(sample, question="Which shape is it? " * 2000)], n=1)
    assert long.height < short.height + 200  # the question is cut, saying how long it was, not 17,000 px tall


def test_a_short_flag_is_read_as_the_start_of_a_long_one(capsys):
    assert main(["data", "show", "d.jsonl", "-o", "x.png"]) == 2
    err = capsys.readouterr().err
    assert "unknown option -o (grit's options are long: --name value); did you mean --out or --overwrite?" in err


def test_llm_judge_fields_beside_the_rule_verifier_are_refused_not_ignored(tmp_path, capsys):
    examples = Path(__file__).resolve().parent.parent / "examples" / "score"
    argv = ["score", "--data", str(examples / "data.jsonl"), "--completions", str(examples / "completions.jsonl")]
    assert main([*argv, "--judge_cache", str(tmp_path / "j.sqlite")]) == 2
    assert "--judge_cache is given, but --judge is rules" in capsys.readouterr().err
    from grit.train_config import field_checks, load_recipe

    recipe = Path(__file__).parents[1] / "recipes" / "shapes_tiny_cpu.yaml"
    args, grpo = load_recipe(recipe, ["--bf16", "false", "--use_cpu", "true", "--judge_model", "gpt-4o"])
    assert any(
        "judge_model is given, but judge is rules, which uses no LLM judge" in p for p in field_checks(args, grpo)
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task_mix", "[1, 2]"], "--task_mix: expected a mapping such as '{name: 1, other: 2}', got '[1, 2]'"),
        (["--reasoning_families", "counting"], "--reasoning_families: expected a mapping"),
        (["--lm_steps", "0", "--vision_steps", "0"], "vision_steps and lm_steps are both 0: nothing would be trained"),
    ],
)
def test_pretrain_flags_that_train_nothing_or_are_not_mappings_are_refused(
    tmp_path, monkeypatch, capsys, argv, message
):
    monkeypatch.chdir(tmp_path)
    assert main(["pretrain", "--out", "o", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_under_accelerate_each_process_names_itself_in_a_mistake(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "1")  # what `accelerate launch` sets in its second process
    assert main(["data", "shapes", "--out", "o", "--n", "0"]) == 2
    assert capsys.readouterr().err.startswith("[rank 1] grit data shapes: error: n: 0 is below the minimum 1")
    monkeypatch.setenv("RANK", "0")
    assert main(["data", "shapes", "--out", "o", "--n", "0"]) == 2
    assert capsys.readouterr().err.startswith("grit data shapes: error: n: 0 is below the minimum 1")
