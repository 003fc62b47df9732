"""The console: a stage is a header, one bar its phases reuse, and a closing line; training shows the figures that
matter from TRL's logs, never a dict."""

from types import SimpleNamespace

from grit.callbacks import TrainProgress
from grit.progress import Stage, phase


def test_a_stage_is_a_header_one_bar_and_a_closing_line(capsys):
    lines = []
    stage = Stage(2, 5, "base eval", "40 questions", lines.append)
    for name, total in (("direct", 3), ("grounded", 5)):
        with phase(stage, name, total, "sample") as bar:
            bar.update(total)
    assert bar is stage.bar and bar.n == 5 and bar.total == 5 and "grounded" in bar.desc
    stage.log("a line between")
    stage.done("accuracy 0.5")
    assert lines[0] == "[2/5] base eval: 40 questions" and lines[1] == "a line between"
    assert lines[2].startswith("      base eval done in ") and lines[2].endswith(": accuracy 0.5")
    assert capsys.readouterr().out == ""  # bars are on stderr; lines go where the stage's log sends them


def test_training_bar_shows_the_figures_that_matter():
    progress = TrainProgress()
    state = SimpleNamespace(is_world_process_zero=True, max_steps=4, global_step=1)  # resumed after step 1
    progress.on_train_begin(None, state, None)
    assert progress.bar.n == 1 and progress.bar.total == 4
    state.global_step = 3
    progress.on_step_end(None, state, None)
    logs = {
        "reward": 1.25,
        "rewards/diagnostics/mean": None,
        "grit/format_compliance": 0.5,
        "rewards/answer_accuracy/mean": 0.75,
        "frac_reward_zero_std": 0.25,
        "step_time": 2.5,
        "completions/mean_length": 30.0,
    }
    progress.on_log(None, state, None, logs=logs)
    shown = progress.bar.postfix
    assert progress.bar.n == 3
    assert shown == "reward=1.25, format=0.5, acc=0.75, zero-std=0.25, s/step=2.5", shown
    progress.on_train_end(None, state, None)
    assert progress.bar is None
