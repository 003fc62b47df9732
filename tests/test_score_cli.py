import json
import shutil
from pathlib import Path

import pytest

from grit.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "score"


@pytest.fixture
def files(tmp_path):
    shutil.copy(EXAMPLES / "data.jsonl", tmp_path / "data.jsonl")
    shutil.copy(EXAMPLES / "completions.jsonl", tmp_path / "completions.jsonl")
    return tmp_path


@pytest.mark.parametrize("preset", ["grit", "paper", "reference"])
def test_score_writes_every_term(files, preset, capsys):
    out = files / "scored.jsonl"
    rc = main(
        [
            "score",
            "--data",
            str(files / "data.jsonl"),
            "--completions",
            str(files / "completions.jsonl"),
            "--reward_preset",
            preset,
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 7
    printed = capsys.readouterr().out
    assert "total" in printed and "strict format" in printed
    for r in records:
        assert set(r) >= {"id", "completion", "rewards", "total", "boxes", "answer", "format"}
        assert len(r["rewards"]) == 6
    first = records[0]
    assert first["answer"] == "yes" and first["format"]["strict"] is True
    # The truck box [0, 209, 504, 364] in the 504x364 resized frame maps to [0, 275.6, 640, 480] pixels
    # (x 640/504, y 480/364).
    assert first["boxes"][0]["original"] == [0.0, 275.6, 640.0, 480.0]
    assert first["boxes"][0]["label"] == "truck" and first["boxes"][0]["problem"] is None
    whole = records[2]["boxes"][0]
    assert whole["problem"] == "whole image"


def test_grit_totals_rank_good_chains_first(files):
    out = files / "scored.jsonl"
    main(
        [
            "score",
            "--data",
            str(files / "data.jsonl"),
            "--completions",
            str(files / "completions.jsonl"),
            "--out",
            str(out),
        ]
    )
    totals = [json.loads(line)["total"] for line in out.read_text().splitlines()]
    good, wrong, whole, counted, hack, none_found, hedge = totals
    assert good > whole > hack and counted > hack and none_found > hedge
    assert hack == 0.0 or hack < 0.0


def test_grounding_reward_and_norm1000_frame(files):
    out = files / "scored.jsonl"
    rc = main(
        [
            "score",
            "--data",
            str(files / "data.jsonl"),
            "--completions",
            str(files / "completions.jsonl"),
            "--extra_rewards",
            "grounding",
            "--frame",
            "norm1000",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    r = json.loads(out.read_text().splitlines()[0])
    assert "grounding" in r["rewards"] and r["boxes"][0]["original"] == [0.0, 100.32, 322.56, 174.72]


def test_refuses_to_overwrite(files, capsys):
    out = files / "scored.jsonl"
    out.write_text("keep me")
    rc = main(
        [
            "score",
            "--data",
            str(files / "data.jsonl"),
            "--completions",
            str(files / "completions.jsonl"),
            "--out",
            str(out),
        ]
    )
    assert rc == 2 and out.read_text() == "keep me"
    assert "--overwrite" in capsys.readouterr().err


def test_an_out_file_hard_linked_to_an_input_is_refused(files, capsys):
    """Resolved paths differ for a hard link, so --overwrite replaced the completions with their scores."""
    import os

    linked = files / "linked.jsonl"
    os.link(files / "completions.jsonl", linked)
    before = linked.read_text()
    argv = ["score", "--data", str(files / "data.jsonl"), "--completions", str(files / "completions.jsonl")]
    assert main([*argv, "--out", str(linked), "--overwrite"]) == 2
    assert "is the --completions file this command reads" in capsys.readouterr().err
    assert (files / "completions.jsonl").read_text() == before


def test_an_out_file_that_is_the_config_is_refused(files, capsys):
    config = files / "score.yaml"
    config.write_text(f"data: {files / 'data.jsonl'}\ncompletions: {files / 'completions.jsonl'}\n")
    assert main(["score", "--config", str(config), "--out", str(config), "--overwrite"]) == 2
    assert "is the --config file this command reads" in capsys.readouterr().err
    assert config.read_text().startswith("data:")


def test_unknown_id_and_malformed_lines_are_errors(files, capsys):
    bad = files / "bad.jsonl"
    bad.write_text(
        '{"id": "vsr-1", "completion": "ok"}\n{"id": "nope", "completion": "x"}\n{broken\n{"id": "vsr-1"}\n'
    )
    rc = main(["score", "--data", str(files / "data.jsonl"), "--completions", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"{bad}:2: field 'id': id 'nope' is not in the data file" in err
    assert f"{bad}:3" in err and f"{bad}:4" in err


@pytest.mark.parametrize(
    "line, fix",
    [
        (
            {"custom_id": "vsr-1", "response": {"body": {"choices": [{"message": {"content": "x"}}]}}},
            "take response.body.choices[0].message.content as completion and custom_id as id",
        ),
        ({"id": "vsr-1", "outputs": [{"text": "x"}]}, "vLLM output: take outputs[0].text as completion"),
        ({"id": "vsr-1", "choices": [{"text": "x"}]}, "choices[0].message.content (chat) or choices[0].text"),
        ({"id": "vsr-1", "response": "x"}, "rename 'response' to 'completion'"),
        ({"id": "vsr-1", "completion": 3}, "completion is int; give its generated text as a string"),
        ({"completion": "x"}, "give each line an id (the data's id, or its line number)"),
    ],
)
def test_completions_in_other_tools_shapes_are_named_with_where_the_text_is(files, capsys, line, fix):
    other = files / "other.jsonl"
    other.write_text(json.dumps(line) + "\n")
    assert main(["score", "--data", str(files / "data.jsonl"), "--completions", str(other)]) == 2
    assert fix in capsys.readouterr().err


def test_conversational_completions_are_read_as_trl_logs_them(files, capsys):
    lines = [json.loads(line) for line in (files / "completions.jsonl").read_text().splitlines()]
    chat = files / "chat.jsonl"
    message = lambda r, i: {"role": "assistant", "content": r["completion"]}  # noqa: E731
    chat.write_text(  # a list of messages, as TRL logs them; one message alone, as a dict
        "".join(
            json.dumps(dict(r, completion=[message(r, i)] if i % 2 else message(r, i))) + "\n"
            for i, r in enumerate(lines)
        )
    )
    argv = ["score", "--data", str(files / "data.jsonl"), "--out"]
    assert main([*argv, str(files / "a.jsonl"), "--completions", str(files / "completions.jsonl")]) == 0
    assert main([*argv, str(files / "b.jsonl"), "--completions", str(chat)]) == 0
    a, b = ((files / n).read_text().splitlines() for n in ("a.jsonl", "b.jsonl"))
    strip = lambda rows: [{k: v for k, v in json.loads(r).items() if k != "source"} for r in rows]  # noqa: E731
    assert strip(a) == strip(b)


def test_grit_evals_predictions_are_read_as_completions_and_a_data_file_is_named(files, capsys):
    lines = [json.loads(line) for line in (files / "completions.jsonl").read_text().splitlines()]
    predictions = files / "predictions.jsonl"  # the shape grit eval writes: the output beside the chain it read
    predictions.write_text(
        "".join(
            json.dumps({"data": "data", "id": r["id"], "output": r["completion"], "chain": {}}) + "\n" for r in lines
        )
    )
    argv = ["score", "--data", str(files / "data.jsonl"), "--out"]
    assert main([*argv, str(files / "a.jsonl"), "--completions", str(files / "completions.jsonl")]) == 0
    assert main([*argv, str(files / "b.jsonl"), "--completions", str(predictions)]) == 0
    a, b = ((files / n).read_text().splitlines() for n in ("a.jsonl", "b.jsonl"))
    strip = lambda rows: [{k: v for k, v in json.loads(r).items() if k != "source"} for r in rows]  # noqa: E731
    assert strip(a) == strip(b)
    capsys.readouterr()
    assert main(["score", "--data", str(files / "data.jsonl"), "--completions", str(files / "data.jsonl")]) == 2
    assert "is a sample of a data file (question, answer, image), not a model's completion" in capsys.readouterr().err


def test_a_gzipped_completions_file_is_named(files, capsys):
    import gzip

    packed = files / "completions.jsonl.gz"
    packed.write_bytes(gzip.compress((files / "completions.jsonl").read_bytes()))
    assert main(["score", "--data", str(files / "data.jsonl"), "--completions", str(packed)]) == 2
    plain = files / "completions.jsonl"
    assert f"is gzip-compressed. Fix: decompress it first: gunzip -c {packed} > {plain}" in capsys.readouterr().err


def test_a_line_whose_question_is_not_its_samples_is_refused(files, capsys):
    """Completions made for another data file whose ids happen to match are refused, not scored against the wrong
    answers; a line that carries its own sample's question (whitespace aside) is scored."""
    data = str(files / "data.jsonl")
    good = files / "good.jsonl"
    good.write_text(
        '{"id": "vsr-1", "question": " Is the truck\\nbeneath  the cat? ", "completion": "<answer> yes"}\n'
    )
    rc = main(["score", "--data", data, "--completions", str(good), "--out", str(files / "scored.jsonl")])
    assert rc == 0, capsys.readouterr().err
    scored = [json.loads(line) for line in (files / "scored.jsonl").read_text().splitlines()]
    assert [r["id"] for r in scored] == ["vsr-1"]
    bad = files / "bad.jsonl"
    bad.write_text(
        '{"id": "tally-1", "question": "How many red circles are there?", "completion": "<answer> 2 </answer>"}\n'
        '{"id": "tally-2", "question": ["How many knives are in the image?"], "completion": "<answer> 0 </answer>"}\n'
    )
    rc = main(["score", "--data", data, "--completions", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"{bad}:1: field 'question': this line answers 'How many red circles are there?', but id 'tally-1'" in err
    assert "How many zebras are there?" in err and "the data file they were made for" in err
    assert f"{bad}:2: field 'question': must be text, got list" in err


def test_unknown_reward_name(files, capsys):
    rc = main(
        [
            "score",
            "--data",
            str(files / "data.jsonl"),
            "--completions",
            str(files / "completions.jsonl"),
            "--extra_rewards",
            "iou_bonus",
        ]
    )
    assert rc == 2 and "unknown reward 'iou_bonus'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["ra.reward", "rb.reward"], "'rb.reward' is named 'reward', as the reward 'ra.reward'"),
        (["ra.answer_accuracy"], "is named 'answer_accuracy', as preset grit's term 'answer_accuracy'"),
        (["grounding", "grounding"], "'grounding' is given twice"),
        (["format"], "'format' is already preset grit's term 'format'"),
    ],
)
def test_rewards_that_would_hide_each_others_scores_are_refused(files, capsys, monkeypatch, extra, message):
    """Scores are kept by reward name: the last of two rewards named alike replaced the other's, silently."""
    (files / "ra.py").write_text(
        "def reward(completions, **kw):\n    return [1.0] * len(completions)\n\n\n"
        "def answer_accuracy(completions, **kw):\n    return [0.0] * len(completions)\n"
    )
    (files / "rb.py").write_text("def reward(completions, **kw):\n    return [0.25] * len(completions)\n")
    monkeypatch.chdir(files)
    argv = ["score", "--data", "data.jsonl", "--completions", "completions.jsonl", "--out", "scored.jsonl"]
    assert main([*argv, "--extra_rewards", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (files / "scored.jsonl").exists()


def test_completions_decoded_with_their_template_are_named(files, capsys):
    """Decoded with skip_special_tokens=False, every chain failed the format, with no word of why."""
    lines = [json.loads(line) for line in (files / "completions.jsonl").read_text().splitlines()]
    raw = files / "raw.jsonl"
    raw.write_text("".join(json.dumps(dict(r, completion=r["completion"] + "<|im_end|>")) + "\n" for r in lines))
    assert main(["score", "--data", str(files / "data.jsonl"), "--completions", str(raw)]) == 0
    err = capsys.readouterr().err
    assert f"{len(lines)} of {len(lines)} completions hold chat-template tokens such as <|im_end|>" in err
    assert "skip_special_tokens=True" in err
    assert main(["score", "--data", str(files / "data.jsonl"), "--completions", str(files / "completions.jsonl")]) == 0
    assert "chat-template" not in capsys.readouterr().err


def test_line_numbers_are_ids_when_data_has_none(tmp_path):
    (tmp_path / "d.jsonl").write_text(
        json.dumps(
            {"question": "How many?", "answer": "1", "image": "x.png", "width": 100, "height": 100, "bboxs": []}
        )
        + "\n"
    )
    (tmp_path / "c.jsonl").write_text(json.dumps({"id": 1, "completion": "<answer> 1 </answer>"}) + "\n")
    assert main(["score", "--data", str(tmp_path / "d.jsonl"), "--completions", str(tmp_path / "c.jsonl")]) == 0


def test_a_frame_the_boxes_do_not_fit_is_named(files, capsys):
    """The example completions are Qwen2.5-VL's (pixels of its resized input): scored as 0-1000, the warning names
    the frame they fit; scored as they are, none."""
    argv = ["score", "--data", str(files / "data.jsonl"), "--completions", str(files / "completions.jsonl")]
    assert main([*argv, "--frame", "norm1000"]) == 0
    err = capsys.readouterr().err
    assert "warning: the boxes were read as 0-1000 (--frame norm1000) but fit another frame better" in err
    assert "as pixels of the model's resized input (--frame resized)" in err and "Score again with that" in err
    assert main(argv) == 0 and "warning" not in capsys.readouterr().err
