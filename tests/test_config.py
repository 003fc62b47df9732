"""Options of every command: dataclass fields read from YAML (``--config``) and ``--field value`` flags, with one
clear message (exit 2, no traceback) for an unknown key or flag, a wrong type or a value outside the choices."""

import importlib
import os
import subprocess
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest

from grit.arguments import ArgumentParser
from grit.cli import COMMANDS, main
from grit.config import ConfigError, field_problems, from_yaml, load_yaml

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Options:
    out: str = field(metadata={"help": "output folder"})
    n_eval: int = field(default=400, metadata={"help": "questions", "min": 1})
    warm_lr: float = field(default=3e-4, metadata={"help": "learning rate"})
    layout: str = field(default="guess_first", metadata={"help": "layout", "choices": ("named", "guess_first")})
    families: list[str] = field(default_factory=list, metadata={"help": "families", "choices": ("a", "b")})
    task_mix: dict = field(default_factory=dict, metadata={"help": "weights"})
    overwrite: bool = field(default=False, metadata={"help": "write into a non-empty out"})


def parse(argv):
    return ArgumentParser([Options], prog="grit test").parse(argv)


def test_yaml_then_flags_override_it(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("out: runs/x\nn_eval: 12\nwarm_lr: 1e-3\nfamilies: [a]\ntask_mix: {a: 1.0}\n")
    (cfg,) = parse(["--config", str(config), "--n_eval", "7", "--overwrite"])
    assert cfg == Options("runs/x", 7, 1e-3, "guess_first", ["a"], {"a": 1.0}, True)
    (cfg,) = parse(["--out", "o", "--task_mix", "{a: 0.5, b: 0.5}", "--families", "a", "b", "--overwrite", "false"])
    assert cfg.task_mix == {"a": 0.5, "b": 0.5} and cfg.families == ["a", "b"] and cfg.overwrite is False
    assert parse(["--out", "o"]) == (Options("o"),)  # defaults from the dataclass alone


def test_dashed_spelling_is_an_alias_of_the_field_name():
    (cfg,) = parse(["--out", "o", "--n-eval", "3", "--warm-lr=0.1"])
    assert cfg.n_eval == 3 and cfg.warm_lr == 0.1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--out", "o", "--n_evl", "3"], "unknown option --n_evl; did you mean --n_eval?"),
        (["--out", "o", "--n-evl", "3"], "unknown option --n-evl; did you mean --n_eval?"),
        (["--out", "o", "--n_e", "3"], "unknown option --n_e"),  # a prefix never picks a field
        (["--out", "o", "stray"], "unexpected argument(s) stray"),
        (["--out", "o", "--n_eval", "many"], "--n_eval: expected int, got 'many'"),
        (["--out", "o", "--overwrite", "maybe"], "--overwrite: expected true or false, got 'maybe'"),
        (["--out", "o", "--layout", "last"], "layout: 'last' is not one of named, guess_first"),
        (["--out", "o", "--families", "a", "c"], "families: 'c' is not one of a, b"),
        (["--out", "o", "--n_eval", "0"], "n_eval: 0 is below the minimum 1"),
        (["--n_eval", "3"], "the following arguments are required: --out"),
        (["--out", "o", "--config", "missing.yaml"], "config file missing.yaml"),
    ],
)
def test_bad_flags_name_the_field(argv, message):
    with pytest.raises(ConfigError) as e:
        parse(argv)
    assert message in str(e.value)


def test_bad_yaml_names_the_file_line_and_field(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("out: o\n# a comment\nn_evl: 3\nwarm_lr: fast\nlayout: last\n")
    with pytest.raises(ConfigError) as e:
        parse(["--config", str(config)])
    assert f"{config}:3: unknown field 'n_evl'; did you mean n_eval?" in str(e.value)
    assert f"{config}:4: warm_lr: expected float, got 'fast'" in str(e.value)
    config.write_text("out: o\nlayout: last\n")
    with pytest.raises(ConfigError, match="layout: 'last' is not one of named, guess_first"):
        parse(["--config", str(config)])
    config.write_text("- out\n")
    with pytest.raises(ConfigError, match="a mapping of field: value"):
        load_yaml(config, [Options])
    config.write_text("out: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(config, [Options])


@pytest.mark.parametrize(
    "text, value",
    [("'yes'", True), ("'no'", False), ("'N'", False), ("'True'", True), ("no", False), ("1", True), ("0", False)],
)
def test_a_bool_given_as_text_in_yaml_reads_as_on_the_command_line(tmp_path, text, value):
    config = tmp_path / "c.yaml"
    config.write_text(f"out: o\noverwrite: {text}\n")
    assert parse(["--config", str(config)])[0].overwrite is value
    assert from_yaml(Options, config).overwrite is value  # a bool, never the text (whose 'no' would be true) or 1


def test_a_list_of_numbers_given_partly_as_text_reads_as_numbers(tmp_path, capsys):
    # YAML reads 1e0 as the string "1e0"; the command line reads it as 1.0, so the config file does too.
    config = tmp_path / "c.yaml"
    config.write_text(f"out: {tmp_path / 'w'}\nn: 40\nmix: [1e0, 1, '2', 1.5]\n")
    assert main(["data", "shapes", "--config", str(config)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    config.write_text(f"out: {tmp_path / 'v'}\nn: 40\nmix: [1e0, 1, 1, x]\n")
    assert main(["data", "shapes", "--config", str(config)]) == 2
    assert f"{config}:3: mix: expected a list of float, got ['1e0', 1, 1, 'x']" in capsys.readouterr().err


def test_a_bool_that_is_no_word_for_true_or_false_is_refused(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("out: o\noverwrite: maybe\n")
    with pytest.raises(ConfigError, match=f"{config}:2: overwrite: expected true or false, got 'maybe'"):
        parse(["--config", str(config)])


def test_from_yaml_for_python_callers(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("out: o\nn_eval: 5\n")
    assert from_yaml(Options, config, {"warm_lr": 0.5}) == Options("o", 5, 0.5)
    with pytest.raises(ConfigError, match="unknown field 'n_evl'; did you mean n_eval"):
        from_yaml(Options, config, {"n_evl": 1})


def test_a_key_with_no_value_is_named_with_what_it_takes(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("out: o\nlayout:\nn_eval:\n")
    with pytest.raises(ConfigError) as e:
        parse(["--config", str(config)])
    assert f"{config}:2: layout: has no value; give one of named, guess_first, or drop the line" in str(e.value)
    assert f"{config}:3: n_eval: has no value; give int, or drop the line" in str(e.value)


def test_a_choice_of_trl_or_transformers_in_a_config_file_is_checked_with_its_line(tmp_path):
    from trl import GRPOConfig

    config = tmp_path / "c.yaml"
    config.write_text("out: o\nlr_scheduler_type: foo\n")
    with pytest.raises(ConfigError, match=f"{config}:2: lr_scheduler_type: 'foo' is not one of linear, cosine,"):
        ArgumentParser([Options, GRPOConfig], prog="grit test").parse(["--config", str(config)])


def test_a_mapping_flag_sets_each_key_once():
    with pytest.raises(ConfigError, match=r"--task_mix: a set twice in '\{a: 1, a: 2\}'; keep one"):
        parse(["--out", "o", "--task_mix", "{a: 1, a: 2}"])


def test_a_list_of_choices_names_each_once():
    with pytest.raises(ConfigError, match="families: 'a' is given more than once; give it once"):
        parse(["--out", "o", "--families", "a", "b", "a", "a"])
    assert parse(["--out", "o", "--families", "b", "a"])[0].families == ["b", "a"]


def test_field_problems_is_the_one_check_of_choices():
    assert field_problems(Options("o")) == []
    assert field_problems(Options("o", 0, layout="x")) == [
        "n_eval: 0 is below the minimum 1",
        "layout: 'x' is not one of named, guess_first",
    ]


def test_every_command_is_a_registered_module_with_help():
    modules = {p.stem for p in (ROOT / "src" / "grit" / "cli").glob("*.py")} - {"__init__", "__main__", "common"}
    assert modules == set(COMMANDS)
    for name in COMMANDS:
        module = importlib.import_module(f"grit.cli.{name}")
        assert module.HELP and callable(module.main), name


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "shapes"],
        ["data", "check"],
        ["data", "show"],
        ["model", "tiny"],
        ["eval"],
        ["infer"],
        ["score"],
        ["pretrain"],
        ["quickstart"],
    ],
)
def test_help_exits_0_and_shows_field_names(argv, capsys):
    assert main([*argv, "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: grit {' '.join(argv)}") and "--config FILE" in text
    flags = [w for w in text.split() if w.startswith("--")]
    assert not [f for f in flags if "-" in f[2:].rstrip(".,)")], "help shows field names, with underscores"


def test_train_help_shows_grits_fields_first_and_the_most_used_of_trl(capsys):
    from grit.train_config import MOST_USED_GRPO_FIELDS, GritTrainArguments

    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: grit train --config RECIPE") and len(text.splitlines()) < 250
    assert text.index("\n  --train_data ") < text.index("\n  --learning_rate ") < text.index("Every field of TRL's")
    assert "--gradient_checkpointing " not in text and "--help-all" in text
    for name in [f.name for f in fields(GritTrainArguments)] + list(MOST_USED_GRPO_FIELDS):
        assert f"--{name} " in text, name
    assert main(["train", "--help-all"]) == 0
    assert "--gradient_checkpointing " in capsys.readouterr().out


def test_every_config_field_has_help():
    from grit.pretrain.config import PretrainConfig
    from grit.quickstart import QuickstartConfig
    from grit.train_config import GritTrainArguments

    for config in (GritTrainArguments, PretrainConfig, QuickstartConfig):
        assert [f.name for f in fields(config) if not f.metadata.get("help")] == [], config.__name__


def test_choices_come_from_the_constants():
    from grit.cli.eval import EvalConfig
    from grit.cli.infer import InferConfig
    from grit.cli.model import TinyConfig
    from grit.cli.score import ScoreConfig
    from grit.data.selection import MIXES
    from grit.models.tiny import SIZES
    from grit.prompts import PROMPT_KINDS
    from grit.quickstart import QuickstartConfig
    from grit.rewards import PRESETS
    from grit.train_config import GritTrainArguments
    from grit.warmstart import LAYOUTS

    def choices(config, name):
        return next(f.metadata["choices"] for f in fields(config) if f.name == name)

    assert choices(GritTrainArguments, "prompt") is PROMPT_KINDS
    assert choices(GritTrainArguments, "grit20_mix") is MIXES
    assert choices(GritTrainArguments, "reward_preset") == tuple(PRESETS) == choices(ScoreConfig, "reward_preset")
    assert choices(EvalConfig, "prompt") is PROMPT_KINDS and choices(InferConfig, "prompt") is PROMPT_KINDS
    assert choices(TinyConfig, "size") == tuple(SIZES)
    assert choices(QuickstartConfig, "warm_layout") is LAYOUTS


def test_unknown_flags_and_keys_exit_2_with_one_message(tmp_path, capsys):
    assert main(["train", "--max_stepz", "2"]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip()
        == "grit train: error: unknown option --max_stepz; did you mean --max_steps? (see grit train --help)"
    )
    assert main(["score", "--data", "d", "--completions", "c", "--reward_preset", "best"]) == 2
    assert "reward_preset: 'best' is not one of grit, paper, reference" in capsys.readouterr().err
    assert main(["data", "shapes", "--out", str(tmp_path / "w"), "--n", "lots"]) == 2
    assert capsys.readouterr().err.strip() == "grit data shapes: error: --n: expected int, got 'lots'"
    assert main(["trian"]) == 2 and "did you mean train?" in capsys.readouterr().err
    assert main(["model", "tiny", "--out", str(tmp_path / "m"), "--size", "huge"]) == 2
    assert "size: 'huge' is not one of micro, tiny, small" in capsys.readouterr().err
    assert not (tmp_path / "w").exists() and not (tmp_path / "m").exists()


def test_old_spellings_of_score_flags_still_work():
    from grit.cli.common import FrameOptions, JudgeOptions, parse
    from grit.cli.score import ScoreConfig

    cfg, frame, judge = parse(
        ["--data", "d", "--completions", "c", "--preset", "paper", "--reward", "grounding", "--min-pixels", "9"],
        ScoreConfig,
        FrameOptions,
        JudgeOptions,
        prog="grit score",
    )
    assert cfg.reward_preset == "paper" and cfg.extra_rewards == ["grounding"] and frame.min_pixels == 9


def test_quickstart_checks_training_fields_before_any_work(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--max_stepz", "2"]) == 2
    assert "unknown option --max_stepz; did you mean --max_steps?" in capsys.readouterr().err
    assert main(["quickstart", "--out", str(out), "--n-evl", "2"]) == 2  # a quickstart field, misspelt
    assert "did you mean --n_eval?" in capsys.readouterr().err
    assert main(["quickstart", "--out", str(out), "--prompt", "essay"]) == 2  # a training field's bad value
    assert "prompt: 'essay' is not one of" in capsys.readouterr().err
    assert main(["quickstart", "--out", str(out), "--warm_layout", "last"]) == 2
    assert "warm_layout: 'last' is not one of" in capsys.readouterr().err
    assert not out.exists()
    from grit.quickstart import QuickstartConfig, run_quickstart
    from grit.train_config import TrainConfigError

    with pytest.raises(TrainConfigError, match="--max_stepz"):  # the Python API checks first too
        run_quickstart(QuickstartConfig(out=str(out)), ["--max_stepz", "2"])
    assert not out.exists()


def test_train_recipe_overrides_and_env(tmp_path):
    from grit.train_config import load_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "model: m\ntrain_data: [a.jsonl]\nlearning_rate: 0.5\nbf16: false\nuse_cpu: true\n"
        "env: {GRIT_TEST_VARIABLE: 'on'}\n"
    )
    args, grpo = load_recipe(recipe, ["--learning_rate", "0.25", "--lora", "--no_grit20", "--output_dir", "o"])
    assert args.model == "m" and args.train_data == ["a.jsonl"] and args.lora and not args.grit20
    assert grpo.learning_rate == 0.25 and grpo.output_dir == "o"
    assert os.environ.pop("GRIT_TEST_VARIABLE") == "on"


@pytest.mark.parametrize("module", ["grit.cli", "grit"])
def test_python_dash_m_runs_the_cli(module):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}

    def run(*argv):
        return subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True, env=env)

    done = run("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: grit COMMAND") and "quickstart" in done.stdout
    done = run("data", "shapes", "--nn", "3")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "grit data shapes: error: unknown option --nn; did you mean --n? (see grit data shapes --help)"
    )


@pytest.mark.parametrize("recipe", sorted(p.name for p in (ROOT / "recipes").glob("*.yaml")))
def test_every_shipped_recipe_holds_only_fields_of_the_right_type(recipe):
    from trl import GRPOConfig

    from grit.pretrain.config import PretrainConfig
    from grit.train_config import GritTrainArguments

    configs = [PretrainConfig] if recipe.startswith("shapes_base") else [GritTrainArguments, GRPOConfig]
    assert load_yaml(ROOT / "recipes" / recipe, configs, ("env",))


def test_pretrain_reads_its_recipe_and_overrides(monkeypatch, tmp_path, capsys):
    import grit.pretrain.train as pretrain

    seen = {}

    class FakePretrainer:
        def __init__(self, cfg):
            seen["cfg"] = cfg

        def run(self):
            return {"image_use_gap": 0.5}

    monkeypatch.setattr(pretrain, "Pretrainer", FakePretrainer)
    argv = ["pretrain", "--config", str(ROOT / "recipes" / "shapes_base.yaml"), "--out", str(tmp_path / "b")]
    assert main([*argv, "--lm_steps", "10", "--task_mix", "{direct: 1.0}", "--resume"]) == 0
    cfg = seen["cfg"]
    assert cfg.out == str(tmp_path / "b") and cfg.lm_steps == 10 and cfg.resume and cfg.task_mix == {"direct": 1.0}
    assert cfg.vision_steps == 1200 and cfg.word_readout is True  # the recipe's values
    assert "image_use_gap 0.500" in capsys.readouterr().out
    assert main([*argv, "--task_mix", "{chains: 1.0}"]) == 2
    assert "task_mix" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command, text, message",
    [
        (["eval", "--model", "m", "--data", "d", "--out", "o"], "prompt: groundd\n", "c.yaml:1: prompt: 'groundd'"),
        (["data", "shapes", "--out", "o"], "seed: 1\nn: 0\n", "c.yaml:2: n: 0 is below the minimum 1"),
        (["quickstart"], "n_eval: 0\n", "c.yaml:1: n_eval: 0 is below the minimum 1"),
        (["train"], "beta: 0.1\nper_device_train_batch_size: 0\n", "c.yaml:2: per_device_train_batch_size: 0"),
    ],
)
def test_a_value_out_of_range_in_a_config_file_names_its_file_and_line(tmp_path, capsys, command, text, message):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    assert main([*command, "--config", str(config)]) == 2
    assert f"{tmp_path}/{message}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_a_flag_that_repeats_a_config_files_bad_value_is_blamed_as_the_flag(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("seed: 1\nn: 0\n")
    assert main(["data", "shapes", "--out", str(tmp_path / "o"), "--config", str(config), "--n", "0"]) == 2
    err = capsys.readouterr().err
    assert "n: 0 is below the minimum 1" in err and "c.yaml:2" not in err


def test_one_item_where_a_list_is_wanted_says_how_to_write_the_list(tmp_path, capsys):
    from grit.cli import main

    config = tmp_path / "e.yaml"
    config.write_text("model: m\ndata: d.jsonl\nout: o\n")
    assert main(["eval", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:2: data: expected a list of text, got 'd.jsonl' (one item is a list too: data: [d.jsonl])" in err
