"""Reward tables: expected values worked out by hand from the paper's and the reference code's reward definitions."""

import pickle
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grit.boxes import FrameSpec
from grit.rewards import (
    PRESETS,
    REWARDS,
    RewardSettings,
    bleu1,
    build_rewards,
    completion_text,
    get_reward,
    reward_problems,
)
from grit.score import weighted_total

SETTINGS = RewardSettings(frame=FrameSpec("original"))
COUNT2 = {
    "answer": "2",
    "answer_type": "count",
    "question": "How many red circles are there?",
    "width": 112,
    "height": 112,
    "dataset": "tallyqa",
    "evidence_boxes": [[10, 10, 30, 30], [50, 50, 70, 70]],
}
HACK = '{"bbox_2d": [66, 6, 9, 9, 9, 3 </think> <think>{"bbox_2d": [66, 6, 9, 9, 9, 3 </think> <think>'
REPEATED = (
    "<think> " + "the red circle is at the left here " * 4 + "</think> <rethink> ok </rethink> <answer> 2 </answer>"
)

CASES = {
    "correct": '<think> two {"bbox_2d": [10, 10, 30, 30], "label": "red circle"} {"bbox_2d": [50, 50, 70, 70], '
    '"label": "red circle"} </think> <rethink> Two boxes. </rethink> <answer> 2 </answer>',
    "hack": HACK,
    "whole_image_wrong": '<think> {"bbox_2d": [0, 0, 112, 112]} </think> <rethink> r </rethink> <answer> 3 </answer>',
    "bad_boxes": "<think> [50, 10, 20, 30] [100, 100, 140, 130] </think> <rethink> r </rethink> <answer> 2 </answer>",
    "floats_words": "<think> [10.5, 10.5, 30.5, 30.5] [50.5, 50.5, 70.5, 70.5] </think> <rethink> r </rethink> "
    "<answer> two </answer>",
    "empty": "",
    "empty_think": "<think> </think> <rethink> </rethink> <answer> 2 </answer>",
    "unclosed": "<think> [10, 10, 30, 30] [50, 50, 70, 70] </think> <rethink> r </rethink> <answer> 2",
    "wrong_order": "<rethink> r </rethink> <think> [10, 10, 30, 30] [50, 50, 70, 70] </think> <answer> 2 </answer>",
    "repeated": REPEATED,
}

# name -> (format, grounded_boxes, count, answer_accuracy, answer_bleu, repetition)
GRIT = {
    "correct": (1.0, 0.5, 0.5, 1.0, 0.1, 0.0),
    "hack": (0.0, 0.0, 0.0, 0.0, 0.0, None),
    "whole_image_wrong": (1.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "bad_boxes": (1.0, 0.0, 0.0, 1.0, 0.1, 0.0),
    "floats_words": (1.0, 0.5, 0.5, 1.0, 0.0, 0.0),
    "empty": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "empty_think": (1.0, 0.0, 0.0, 1.0, 0.1, 0.0),
    "unclosed": (0.0, 0.5, 0.5, 0.0, 0.1, 0.0),  # the answer is not closed: no answer credit, BLEU on the text
    "wrong_order": (0.0, 0.5, 0.5, 1.0, 0.1, 0.0),
    "repeated": (1.0, 0.0, 0.0, 1.0, 0.1, -0.5 * 17 / 33),
}
# paper_think, paper_rethink, paper_box, paper_count, paper_answer, paper_answer_bleu
PAPER = {
    "correct": (0.5, 0.5, 0.5, 0.5, 1.0, 0.1),
    "hack": (0.5, 0.0, 0.5, 0.5, 0.0, 0.0),  # the hack string earns the paper's think and box terms
    "whole_image_wrong": (0.5, 0.5, 0.5, 0.0, 0.0, 0.0),
    "bad_boxes": (0.5, 0.5, 0.5, 0.5, 1.0, 0.1),
    "floats_words": (0.5, 0.5, 0.0, 0.0, 1.0, 0.0),
    "empty": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "empty_think": (0.5, 0.5, 0.0, 0.0, 1.0, 0.1),
    "unclosed": (0.5, 0.5, 0.5, 0.5, 1.0, 0.1),
    "wrong_order": (0.5, 0.0, 0.0, 0.0, 1.0, 0.1),  # boxes come after <rethink>
    "repeated": (0.5, 0.5, 0.0, 0.0, 1.0, 0.1),
}
# judge, bleu, answer_format, repetition (ids given: no repeats -> 0.5), box_format, think_format
REFERENCE = {
    "correct": (1.0, 0.05, 0.5, 0.5, 1.5, 0.5),
    "hack": (0.0, 0.0, 0.0, 0.5, 0.0, 0.1),
    "whole_image_wrong": (0.0, 0.0, 0.5, 0.5, 0.5, 0.5),  # box numbers count as think words
    "bad_boxes": (1.0, 0.05, 0.5, 0.5, 1.5, 0.5),
    "floats_words": (1.0, 0.0, 0.5, 0.5, 0.0, 0.5),
    "empty": (0.0, 0.0, 0.0, 0.5, 0.0, 0.0),
    "empty_think": (1.0, 0.05, 0.5, 0.5, 0.0, 0.4),
    "unclosed": (1.0, 0.1, 0.5, 0.5, 1.5, 0.5),  # unclosed: BLEU of "2" alone is 1
    "wrong_order": (1.0, 0.05, 0.5, 0.5, 0.0, 0.2),  # no box before <rethink>; count 0 != 2; scan stops early
    "repeated": (1.0, 0.05, 0.5, 0.5 * (1 - 17 / 33), 0.0, 0.5),  # word repeats, token ids clean
}


def _run(preset, texts, rows, ids=True):
    funcs, weights = build_rewards(preset, SETTINGS)
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    if ids:
        columns["completion_ids"] = [list(range(40))] * len(texts)
    return {f.__name__: f(texts, **columns) for f in funcs}, weights


@pytest.mark.parametrize("preset, table", [("grit", GRIT), ("paper", PAPER), ("reference", REFERENCE)])
def test_reward_tables(preset, table):
    names = list(CASES)
    values, _ = _run(preset, [CASES[n] for n in names], [COUNT2] * len(names))
    terms = [name for name, _ in PRESETS[preset]]
    for i, case in enumerate(names):
        got = tuple(values[t][i] for t in terms)
        expected = table[case]
        for term, g, e in zip(terms, got, expected):
            if e is None:
                continue
            assert g == pytest.approx(e), f"{preset}/{case}/{term}: got {g}, expected {e}"


def test_hack_strings_against_every_preset():
    hacks = [
        HACK,
        HACK * 3,
        "<think> [1, 1, 111, 111] </think> " * 6,  # box spam, no chain
        "<think></think><rethink></rethink><answer></answer>",  # empty skeleton
        "<answer> yes </answer> <answer> no </answer>",  # hedging by two answers
        "<think> [0, 0, 112, 112] [0, 0, 112, 112] </think> <rethink> </rethink> <answer> 2 </answer> <answer> 2",
    ]
    rows = [COUNT2] * len(hacks)
    grit, _ = _run("grit", hacks, rows)
    for i, text in enumerate(hacks):
        credit = grit["format"][i] + grit["grounded_boxes"][i] + (grit["count"][i] or 0) + grit["answer_accuracy"][i]
        assert credit == 0.0, f"grit preset credits hack {text!r}"
    paper, _ = _run("paper", hacks, rows)
    assert paper["paper_think_format"][0] + paper["paper_box_format"][0] == 1.0  # the paper's rule is hackable
    reference, _ = _run("reference", hacks, rows)
    assert reference["reference_think_format"][0] == pytest.approx(0.1)


def test_hedged_answer_and_whole_image_boxes_earn_only_format():
    text = "<think> [0, 0, 112, 112] [0, 0, 111, 112] </think> <rethink> r </rethink> <answer> 2 or 3 </answer>"
    grit, _ = _run("grit", [text], [COUNT2])
    assert grit["format"] == [1.0]
    assert grit["grounded_boxes"] == [0.0] and grit["count"] == [0.0] and grit["answer_accuracy"] == [0.0]


def test_count_bonus_is_per_sample_in_grit_and_first_sample_in_reference():
    text = CASES["correct"]
    vsr = dict(COUNT2, dataset="vsr", answer_type="yesno", answer="yes")
    grit, _ = _run("grit", [text, text], [vsr, COUNT2])
    assert grit["count"] == [None, 0.5]
    reference, _ = _run("reference", [text, text], [vsr, COUNT2])
    assert reference["reference_box_format"] == [0.5, 0.5]  # dataset[0] is vsr: no bonus for the tallyqa item
    reference, _ = _run("reference", [text, text], [COUNT2, vsr])
    assert reference["reference_box_format"] == [1.5, 0.5]  # "yes" is not an integer: no bonus, no crash


def test_frame_decides_box_validity():
    text = "<think> [600, 600, 900, 900] </think> <rethink> r </rethink> <answer> 1 </answer>"
    row = dict(COUNT2, answer="1")
    norm = get_reward("grounded_boxes", RewardSettings(frame=FrameSpec("norm1000")))
    orig = get_reward("grounded_boxes", RewardSettings(frame=FrameSpec("original")))
    cols = {k: [v] for k, v in row.items()}
    assert norm([text], **cols) == [0.5]  # 0-1000 frame: inside the image
    assert orig([text], **cols) == [0.0]  # original pixels: outside a 112 px image
    relative = "<think> [0.1, 0.2, 0.5, 0.6] </think> <rethink> r </rethink> <answer> 1 </answer>"
    assert orig([relative], **cols) == [0.0]  # 0-1 coordinates read as pixels: under a pixel, no box
    rel = get_reward("grounded_boxes", RewardSettings(frame=FrameSpec("relative")))
    assert rel([relative], **cols) == [0.5]


def test_grounding_reward_optional():
    funcs, weights = build_rewards("grit", SETTINGS, extra=["grounding"], weights={"grounding": 2.0})
    assert [f.__name__ for f in funcs][-1] == "grounding" and weights[-1] == 2.0
    g = funcs[-1]
    no_evidence = dict(COUNT2, evidence_boxes=[])
    out = g(
        [CASES["correct"], CASES["correct"], CASES["empty"]],
        **{k: [COUNT2[k], no_evidence[k], COUNT2[k]] for k in COUNT2},
    )
    assert out == [pytest.approx(1.0), None, 0.0]


def test_conversational_completions_and_contract():
    funcs, _ = build_rewards("grit", SETTINGS)
    plain = [CASES["correct"], CASES["hack"]]
    chat = [[{"role": "assistant", "content": t}] for t in plain]
    parts = [[{"role": "assistant", "content": [{"type": "text", "text": t}]}] for t in plain]
    cols = {k: [v, v] for k, v in COUNT2.items()}
    for f in funcs:
        expected = f(plain, **cols)
        assert f(chat, **cols, trainer_state=None, log_extra=None) == expected
        assert f(parts, prompts=["p", "p"], **cols) == expected
        assert all(v is None or isinstance(v, float) for v in expected)


def test_rewards_pickle_and_have_names():
    for name in REWARDS:
        r = get_reward(name, SETTINGS)
        assert r.__name__ == name
        clone = pickle.loads(pickle.dumps(r))
        assert clone.__name__ == name


def test_missing_column_is_a_clear_error():
    with pytest.raises(KeyError, match="width"):
        get_reward("grounded_boxes")([CASES["correct"]], answer=["2"])


def test_unknown_names():
    with pytest.raises(KeyError, match="unknown reward preset"):
        build_rewards("nope")
    with pytest.raises(KeyError, match="unknown reward"):
        get_reward("nope")
    with pytest.raises(KeyError, match="not among"):
        build_rewards("grit", weights={"paper_count": 1.0})


def exclamation_reward(completions, **columns):
    """A user's own reward, added by dotted path (``extra_rewards: [test_rewards.exclamation_reward]``)."""
    return [1.0 if "!" in completion_text(c) else 0.0 for c in completions]


NOT_CALLABLE = 3


def test_own_rewards_by_dotted_path():
    funcs, weights = build_rewards(
        "grit", SETTINGS, ["test_rewards.exclamation_reward"], {"test_rewards.exclamation_reward": 0.5}
    )
    assert (
        funcs[-1].__wrapped__ is exclamation_reward
        and funcs[-1].__name__ == "exclamation_reward"
        and weights[-1] == 0.5
        and len(funcs) == len(PRESETS["grit"]) + 1
    )
    assert funcs[-1](["<answer> 2! </answer>", "<answer> 2 </answer>"]) == [1.0, 0.0]
    assert reward_problems(["grounding", "test_rewards.exclamation_reward"]) == []
    assert reward_problems(["os.path.join"]) == [
        "reward 'os.path.join' does not take TRL's reward arguments: it must accept the completions and every data "
        "column by keyword, as f(completions, **kwargs)"
    ]
    problems = reward_problems(["no_such_module.reward", "test_rewards.missing", "test_rewards.NOT_CALLABLE", "grund"])
    assert "cannot import module 'no_such_module'" in problems[0]
    assert "module 'test_rewards' has no 'missing'" in problems[1]
    assert "is 'int', not a function" in problems[2]
    assert "unknown reward 'grund'" in problems[3] and "dotted path" in problems[3]


def test_weighted_total_skips_not_applicable():
    assert weighted_total([1.0, None, 0.5], [1.0, 1.0, 2.0]) == 2.0
    assert weighted_total([None], [1.0]) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from("abcde123"), max_size=8), st.lists(st.sampled_from("abcde123"), max_size=8))
def test_bleu1_equals_nltk(hypothesis, reference):
    from nltk.translate.bleu_score import sentence_bleu

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = sentence_bleu([reference], hypothesis, weights=(1, 0, 0, 0)) if reference else 0.0
    assert bleu1(hypothesis, reference) == pytest.approx(float(expected), abs=1e-12)


def test_paper_answer_cut_is_literal_first_answer_tag_even_inside_think():
    """The paper's and the reference's answer reads from the first ``<answer>``, wherever it stands (grit's parse
    counts the first answer outside the reasoning; the literal presets must not follow it)."""
    from grit.rewards.answer import AnswerReward

    text = "<think> draft <answer> 3 </answer> </think> <rethink> r </rethink> <answer> 2 </answer>"
    assert AnswerReward(cut="paper")([text], answer=["3"], answer_type=["count"]) == [1.0]
    assert AnswerReward(cut="paper")([text], answer=["2"], answer_type=["count"]) == [0.0]


def test_a_reward_module_that_fails_as_it_imports_is_named_with_its_own_fault(tmp_path, monkeypatch):
    from grit.rewards import reward_problems

    (tmp_path / "needs_pkg.py").write_text("import no_such_package_xyz\n")
    (tmp_path / "bad_syntax.py").write_text("def f(completions, **kw)\n    return []\n")
    (tmp_path / "raises.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.chdir(tmp_path)  # reward modules are found in the working directory, as grit's commands find them
    monkeypatch.syspath_prepend(str(tmp_path))
    problems = reward_problems(["needs_pkg.f", "bad_syntax.f", "raises.f"])
    assert (
        "module 'needs_pkg' was found, but importing it failed (No module named 'no_such_package_xyz')" in problems[0]
    )
    assert "importing module 'bad_syntax' failed: SyntaxError: " in problems[1]
    assert f"({tmp_path / 'bad_syntax.py'}:1); fix the module" in problems[1]
    assert "importing module 'raises' failed: RuntimeError: boom; fix the module" in problems[2]
