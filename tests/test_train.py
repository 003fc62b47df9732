"""GRPO-GR through TRL on a micro model: every parameter moves, every reward term is logged, the viewer and plots
are written, bad configs fail before a model loads, and an interrupted run resumes to where an uninterrupted one
ends."""

import json
import os
import shutil
import time
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from grit.cli import main
from grit.grpo import train
from grit.models.loading import load_policy
from grit.outputs import TRAIN_OUTPUTS, unknown_entries
from grit.threads import set_threads
from grit.train_config import GritTrainArguments, TrainConfigError, load_recipe


@pytest.fixture(scope="module")
def setup(warm_micro):
    return warm_micro


def grpo_config(out, **kw):
    from trl import GRPOConfig

    base = dict(
        output_dir=str(out),
        max_steps=2,
        num_generations=4,
        per_device_train_batch_size=4,
        max_completion_length=32,
        learning_rate=1e-3,
        beta=0.0,
        bf16=False,
        activation_checkpointing=False,
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        save_strategy="steps",
        save_steps=1,
        seed=0,
    )
    base.update(kw)
    return GRPOConfig(**base)


def grit_args(setup, **kw):
    return GritTrainArguments(
        model=str(setup / "warm"), train_data=[str(setup / "data" / "train.jsonl")], viewer_every=1, **kw
    )


def test_smoke_every_parameter_changes_and_everything_is_logged(setup, tmp_path):
    # a reward of the user's own, by dotted path, is logged beside the preset's terms
    result = train(grit_args(setup, extra_rewards=["test_rewards.exclamation_reward"]), grpo_config(tmp_path / "run"))
    before = load_file(setup / "warm" / "model.safetensors")
    after = load_file(tmp_path / "run" / "model" / "model.safetensors")
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert not unchanged, f"parameters that did not change: {unchanged}"
    logged = {k for h in result["history"] for k in h}
    for term in (
        "format",
        "grounded_boxes",
        "count",
        "answer_accuracy",
        "answer_bleu",
        "repetition",
        "exclamation_reward",
    ):
        assert f"rewards/{term}/mean" in logged
    for metric in ("grit/format_compliance", "grit/boxes_per_chain", "grit/invalid_box_share", "frac_reward_zero_std"):
        assert metric in logged
    assert (tmp_path / "run" / "rollouts" / "step-000002.html").read_text().count("advantage") == 4  # one group of 4
    assert (tmp_path / "run" / "plots" / "rewards.png").exists()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["global_step"] == 2 and len(metrics["train_samples"]) == 20
    assert load_policy(tmp_path / "run" / "model").family.name == "qwen2_5_vl"


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


class SeenIds(TrainerCallback):
    """The sample ids trained on at each step (the last generation batch TRL keeps)."""

    def __init__(self):
        self.trainer, self.ids = None, {}

    def on_step_end(self, args, state, control, **kwargs):
        self.ids[state.global_step] = list(self.trainer._logs["extra"]["sample_id"])


def test_resume_ends_where_an_uninterrupted_run_ends(setup, tmp_path):
    seen_full, seen_cut, seen_resumed = SeenIds(), SeenIds(), SeenIds()
    full = train(grit_args(setup), grpo_config(tmp_path / "full", max_steps=4, save_steps=2), (seen_full,))
    train(grit_args(setup), grpo_config(tmp_path / "cut", max_steps=4, save_steps=2), (StopAt(2), seen_cut))
    assert (tmp_path / "cut" / "checkpoint-2").exists() and max(seen_cut.ids) == 2
    # Resuming is refused where it would not continue this run: another setting that makes the run, or no step left.
    with pytest.raises(TrainConfigError, match=r"trained with other settings \(reward_preset: 'grit' -> 'paper'\)"):
        train(grit_args(setup, resume=True, reward_preset="paper"), grpo_config(tmp_path / "cut", max_steps=4))
    with pytest.raises(TrainConfigError, match="checkpoint-2 is at step 2, and max_steps is 2: nothing is left"):
        train(grit_args(setup, resume=True), grpo_config(tmp_path / "cut", max_steps=2, save_steps=2))
    # The same paths written another way are the same run.
    same = GritTrainArguments(
        model=f"{setup / 'warm'}/", train_data=[str(setup / "data" / "." / "train.jsonl")], viewer_every=1, resume=True
    )
    resumed = train(same, grpo_config(tmp_path / "cut", max_steps=4, save_steps=2), (seen_resumed,))
    assert resumed["global_step"] == full["global_step"] == 4
    # the same samples, step for step: the interrupted half plus the resumed half is the uninterrupted run
    assert {**seen_cut.ids, **seen_resumed.ids} == seen_full.ids and sorted(seen_resumed.ids) == [3, 4]
    # A run at max_steps whose saving failed (no model/) is told where its trained weights are.
    shutil.rmtree(tmp_path / "cut" / "model")
    with pytest.raises(TrainConfigError, match="its model/ was not written: .*checkpoint-4 holds the trained weights"):
        train(same, grpo_config(tmp_path / "cut", max_steps=4, save_steps=2))
    load_policy(str(tmp_path / "cut" / "checkpoint-4"))  # and they load as a model


def test_console_shows_a_bar_not_dicts_and_logs_go_to_files(setup, tmp_path, capfd):
    """The CLI with a shipped recipe: no dict per log and no FutureWarning from grit's settings on the console;
    every log in log.jsonl, trainer_state.json and metrics.json with the run's provenance."""
    out = tmp_path / "run"
    argv = ["--model", str(setup / "warm"), "--train_data", str(setup / "data" / "train.jsonl")]
    argv += ["--output_dir", str(out), "--max_steps", "2"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", "--config", "recipes/micro_smoke.yaml", *argv]) == 0
        cpu = [*argv, "--use_cpu", "true", "--bf16", "false"]
        defaults = load_recipe(None, cpu)[1]  # no checkpointing field given: TRL's default, under the new name
    printed = capfd.readouterr()
    assert "{'" not in printed.out and "{'" not in printed.err
    assert "FutureWarning" not in printed.err
    future = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert not future, future
    assert defaults.activation_checkpointing is True
    with pytest.warns(FutureWarning, match="gradient_checkpointing"):  # the user's own old name still warns
        assert load_recipe(None, [*cpu, "--gradient_checkpointing", "false"])[1].activation_checkpointing is False
    logged = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [h["step"] for h in logged] == [1, 2, 2]  # a log per step, then the end-of-training summary
    assert "rewards/format/mean" in logged[0] and "train_runtime" in logged[-1]
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and len(state["log_history"]) == 3
    record = json.loads((out / "metrics.json").read_text())["provenance"]
    assert record["seed"] == 0 and {"torch", "transformers", "trl", "grit"} <= set(record["versions"])
    assert {"git_commit", "threads", "machine"} <= set(record)
    assert unknown_entries(out, TRAIN_OUTPUTS) == []  # --overwrite (and a quickstart run again) may replace it all


def test_bad_configs_fail_before_a_model_loads(setup, tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: x\nlearning_rat: 0.1\n")
    assert main(["train", "--config", str(recipe)]) == 2
    assert "r.yaml:2: unknown field 'learning_rat'; did you mean learning_rate?" in capsys.readouterr().err
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    with pytest.raises(TrainConfigError, match="not empty"):
        train(grit_args(setup), grpo_config(occupied))
    with pytest.raises(TrainConfigError, match="prompt"):
        train(grit_args(setup, prompt="essay"), grpo_config(tmp_path / "x"))
    with pytest.raises(
        TrainConfigError,
        match=f"{setup} has no config.json, but .*{setup / 'warm'} hold saved models: pass that folder",
    ):
        train(GritTrainArguments(model=str(setup), train_data=[str(recipe)]), grpo_config(tmp_path / "y"))
    with pytest.raises(TrainConfigError, match="has no config.json"):
        train(GritTrainArguments(model=str(tmp_path), train_data=[str(recipe)]), grpo_config(tmp_path / "y"))
    with pytest.raises(TrainConfigError, match="name=weight"):
        train(grit_args(setup, reward_weight_overrides=["count"]), grpo_config(tmp_path / "z"))
    with pytest.raises(
        TrainConfigError, match="max_pixels 10: the processor's pixel bounds would be .* and no image fits"
    ):
        train(grit_args(setup, max_pixels=10), grpo_config(tmp_path / "z"))
    zero = [
        f"{name}=0" for name in ("format", "grounded_boxes", "count", "answer_accuracy", "answer_bleu", "repetition")
    ]
    with pytest.raises(TrainConfigError, match="every reward weight is 0 .*give at least one reward a weight above 0"):
        train(grit_args(setup, reward_weight_overrides=zero), grpo_config(tmp_path / "z"))
    with pytest.raises(TrainConfigError, match="'cout' is not among the rewards of preset 'grit'"):
        train(grit_args(setup, reward_weight_overrides=["cout=0.5"]), grpo_config(tmp_path / "z"))
    with pytest.raises(TrainConfigError, match="judge: the LLM judge needs an endpoint and a model"):
        train(grit_args(setup, judge="openai"), grpo_config(tmp_path / "z"))
    with pytest.raises(TrainConfigError, match="judge: judge base_url 'notaurl' is not an http"):
        train(grit_args(setup, judge="openai", judge_base_url="notaurl", judge_model="m"), grpo_config(tmp_path / "z"))
    with pytest.raises(TrainConfigError, match="extra_rewards: reward 'mypkg.rewards.mine': cannot import module"):
        train(grit_args(setup, extra_rewards=["mypkg.rewards.mine"]), grpo_config(tmp_path / "z"))
    with pytest.raises(TrainConfigError, match="images: .*r.yaml is a file; give the folder"):
        train(grit_args(setup, images=[str(recipe)]), grpo_config(tmp_path / "z"))
    stopped = tmp_path / "stopped"  # a run that failed before its first checkpoint: nothing to resume
    stopped.mkdir()
    (stopped / "grit_train_config.json").write_text("{}")
    (stopped / "log.jsonl").write_text("")
    with pytest.raises(TrainConfigError, match="it holds no checkpoint to resume from, so pass --overwrite"):
        train(grit_args(setup), grpo_config(stopped))
    with pytest.raises(TrainConfigError, match="output_dir is empty; give a folder for the run"):
        train(grit_args(setup), grpo_config(""))  # an unset $OUT: never the working folder
    assert (occupied / "keep.txt").read_text() == "mine"


def test_data_that_cannot_fill_a_step_or_fit_the_context_is_refused_before_training(setup, tmp_path):
    lines = (setup / "data" / "train.jsonl").read_text().splitlines()
    few = tmp_path / "few.jsonl"
    few.write_text("\n".join(lines[:3]) + "\n")
    args = GritTrainArguments(
        model=str(setup / "warm"), train_data=[str(few)], images=[str(setup / "data")], grit20=False
    )
    with pytest.raises(TrainConfigError, match="3 samples to train on, but one step asks 4 distinct prompts"):
        train(args, grpo_config(tmp_path / "a", per_device_train_batch_size=16))  # TRL would train 0 steps
    long = tmp_path / "long.jsonl"
    record = json.loads(lines[1])
    long.write_text("\n".join([lines[0], json.dumps({**record, "question": "Is it red? " * 1200}), *lines[2:]]) + "\n")
    args = GritTrainArguments(
        model=str(setup / "warm"), train_data=[str(long)], images=[str(setup / "data")], grit20=False
    )
    with pytest.raises(TrainConfigError, match=f"{long}:2: the prompt is at least .* context of 4,096 tokens"):
        train(args, grpo_config(tmp_path / "b"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_free_cores_sees_other_processes_at_once(monkeypatch):
    """Other processes that keep every core busy leave one thread: measured from their CPU time now, not from the
    load average, which lags a minute behind (read right after ``make install`` it left the quickstart one thread).
    The measure spans the time since the last call when that is under a minute old (a training test earlier in
    the suite): forget it, so that the span is the spinners' second."""
    import subprocess
    import sys

    from grit import threads

    if threads.cpu_times() is None:
        pytest.skip("no /proc/stat: free_cores reads the load average, which lags by design")
    spin = "import time\nend = time.time() + 3\nwhile time.time() < end: pass"
    busy = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.5)
        monkeypatch.setattr(threads, "_last", None)
        load = threads.others_load(window=1.0)
        assert load > (os.cpu_count() or 1) - 0.75
        assert threads.free_cores() == 1
    finally:
        for p in busy:
            p.wait()


def test_threads_zero_takes_the_free_cores_and_n_takes_n():
    args, _ = load_recipe(Path(__file__).parents[1] / "recipes" / "shapes_tiny_cpu.yaml")
    assert args.threads == 0  # the tiny recipe adapts to the machine
    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        set_threads(None)  # None leaves torch's setting as it is
        assert torch.get_num_threads() == 1
        set_threads(0)
        assert 1 <= torch.get_num_threads() <= (os.cpu_count() or 1)
    finally:
        torch.set_num_threads(before)


def test_overwrite_keeps_the_folder_trl_logs_completions_in(setup, tmp_path):
    """TRL makes OUT/completions as the trainer is built; --overwrite clears the earlier run after that, and took the
    folder with it, so the first logged step failed after the earlier run was gone."""
    out = tmp_path / "run"
    for overwrite in (False, True):
        config = grpo_config(out, max_steps=1, log_completions=True, save_strategy="no")
        train(grit_args(setup, overwrite=overwrite), config)
    assert list((out / "completions").glob("completions_*.parquet"))


def test_judge_failures_in_training_are_counted_and_named(setup, tmp_path, server):
    server.script = [("http", 500)]  # every judge call fails
    args = grit_args(setup, judge="openai", judge_base_url=server.url, judge_model="j")
    out = tmp_path / "judged"
    train(args, grpo_config(out, max_steps=1))
    notes = json.loads((out / "metrics.json").read_text())["judge_failures"]
    assert len(notes) == 1 and "judge calls failed: http 500 x" in notes[0] and "answered HTTP 500" in notes[0]
