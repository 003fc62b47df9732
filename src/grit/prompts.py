"""The prompts: GRIT's grounded-reasoning prompt and the baselines' (direct, CoT, one-shot ICL, SFT).

The user turn is the image followed by ``"\\nQuestion: " + question + SUFFIX`` (the paper's prompt); the
chat template of the model family does the rest. The paper's "CoT" baseline row is the untrained model given
the grounded prompt (``kind="grounded"``); ``kind="cot"`` here is a box-free think-then-answer prompt.
"""

from __future__ import annotations

from typing import Any

from grit.chain import render

# Exact text of the paper (Fig. 7) and the reference code: it starts with a space and ends with a newline.
GROUNDED_SUFFIX = (
    " First, think between <think> and </think> while output necessary coordinates needed to answer the question "
    "in JSON with key 'bbox_2d'. Then, based on the thinking contents and coordinates, rethink between <rethink> "
    "</rethink> and then answer the question after <answer>.\n"
)
COT_SUFFIX = " First, think step by step between <think> and </think>. Then answer the question after <answer>.\n"
SFT_SUFFIX = (
    "\nFirst, output a lists of all necessary coordinates (bbox_2d) needed to answer the question, then answer "
    "the question after <answer>.\n"
)
PROMPT_KINDS = ("grounded", "direct", "cot", "icl", "sft", "plain")
# Prompts whose output ends with ``<answer> ...``: generation stops at ``</answer>`` and the answer is read there.
CHAIN_PROMPTS = ("grounded", "cot", "icl", "sft")
# Prompts that ask for no chain: a reply's chain problems are not shown as faults (grit infer, the demo).
CHAINLESS_PROMPTS = ("direct", "plain")

_ICL_BOXES = [((12, 40, 60, 98), "chair"), ((70, 38, 118, 101), "chair"), ((130, 45, 171, 99), "chair")]


def icl_example(syntax: str = "json") -> str:
    """The one-shot example of the ICL baseline: a counting question answered with a grounded chain."""
    chain = render(
        ["Let me check them out", *_ICL_BOXES],
        "Based on the bounding box coordinates, there are 3 chairs in the picture.",
        "3",
        syntax,
    )
    return f"Example:\nQuestion: How many chairs are there?\n{chain}\n"


def question_text(question: str, kind: str = "grounded", box_syntax: str = "json") -> str:
    """The text part of the user turn for one question.

    >>> question_text("Is the cat on the mat?", "direct")
    '\\nQuestion: Is the cat on the mat?'
    """
    if kind not in PROMPT_KINDS:
        raise ValueError(f"unknown prompt kind {kind!r}; use one of {', '.join(PROMPT_KINDS)}")
    text = "\nQuestion: " + question.strip()
    if kind == "grounded":
        return text + GROUNDED_SUFFIX
    if kind == "cot":
        return text + COT_SUFFIX
    if kind == "sft":
        return text + SFT_SUFFIX
    if kind == "icl":
        return text + GROUNDED_SUFFIX + icl_example(box_syntax)
    if kind == "plain":  # the text as given: base-model tasks that are instructions, not questions
        return question
    return text


def user_message(question: str, kind: str = "grounded", box_syntax: str = "json") -> list[dict[str, Any]]:
    """A conversational prompt (TRL's format): one user turn holding the image placeholder and the text."""
    return [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": question_text(question, kind, box_syntax)}],
        }
    ]
