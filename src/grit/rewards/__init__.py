"""GRPO-GR reward functions with TRL's contract, their registry by name, and the three presets.

- ``grit`` (default): hack-resistant format and box terms, per-sample counting bonus, rule-verified answer;
- ``paper``: the paper's definition, literally;
- ``reference``: the released code's six terms, quirks included.

>>> funcs, weights = build_rewards("grit")
>>> [f.__name__ for f in funcs]
['format', 'grounded_boxes', 'count', 'answer_accuracy', 'answer_bleu', 'repetition']
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import numbers
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from grit.boxes import WHOLE_IMAGE_THRESHOLD, FrameSpec
from grit.config import ConfigError
from grit.rewards.answer import AnswerReward
from grit.rewards.base import Reward, bleu1, completion_text
from grit.rewards.grit import (
    AnswerBleuReward,
    CountReward,
    GroundedBoxesReward,
    GroundingReward,
    RepetitionPenalty,
    StrictFormatReward,
)
from grit.rewards.paper import PaperBoxFormat, PaperCount, PaperRethinkFormat, PaperThinkFormat
from grit.rewards.reference import (
    ReferenceAnswerFormat,
    ReferenceBleu,
    ReferenceBoxFormat,
    ReferenceRepetition,
    ReferenceThinkFormat,
)


@dataclass
class RewardSettings:
    """What parameterised rewards need: the model's coordinate frame, an optional LLM judge, box checks."""

    frame: FrameSpec = field(default_factory=FrameSpec)
    judge: Any = None
    whole_image_threshold: float = WHOLE_IMAGE_THRESHOLD
    max_boxes: int = 16
    pad_token_id: int | None = None


def _named(reward: Reward, name: str) -> Reward:
    reward.name = reward.__name__ = name
    return reward


REWARDS: dict[str, Callable[[RewardSettings], Reward]] = {
    # grit preset
    "format": lambda s: StrictFormatReward(),
    "grounded_boxes": lambda s: GroundedBoxesReward(s.frame, s.whole_image_threshold, s.max_boxes),
    "count": lambda s: CountReward(s.frame, s.whole_image_threshold),
    "answer_accuracy": lambda s: AnswerReward(s.judge, cut="strict"),
    "answer_bleu": lambda s: AnswerBleuReward(),
    "repetition": lambda s: RepetitionPenalty(),
    "grounding": lambda s: GroundingReward(s.frame, s.whole_image_threshold),
    # paper preset
    "paper_think_format": lambda s: PaperThinkFormat(),
    "paper_rethink_format": lambda s: PaperRethinkFormat(),
    "paper_box_format": lambda s: PaperBoxFormat(),
    "paper_count": lambda s: PaperCount(),
    "paper_answer": lambda s: AnswerReward(s.judge, cut="paper", binarize=True, name="paper_answer"),
    "paper_answer_bleu": lambda s: _named(AnswerBleuReward(), "paper_answer_bleu"),
    # reference preset, in the reference trainer's order
    "reference_answer_judge": lambda s: AnswerReward(
        s.judge, cut="paper", binarize=True, skip_datasets=("ovd",), name="reference_answer_judge"
    ),
    "reference_answer_bleu": lambda s: ReferenceBleu(),
    "reference_answer_format": lambda s: ReferenceAnswerFormat(),
    "reference_repetition": lambda s: ReferenceRepetition(s.pad_token_id),
    "reference_box_format": lambda s: ReferenceBoxFormat(),
    "reference_think_format": lambda s: ReferenceThinkFormat(),
}

PRESETS: dict[str, tuple[tuple[str, float], ...]] = {
    "grit": (
        ("format", 1.0),
        ("grounded_boxes", 1.0),
        ("count", 1.0),
        ("answer_accuracy", 1.0),
        ("answer_bleu", 1.0),
        ("repetition", 1.0),
    ),
    "paper": (
        ("paper_think_format", 1.0),
        ("paper_rethink_format", 1.0),
        ("paper_box_format", 1.0),
        ("paper_count", 1.0),
        ("paper_answer", 1.0),
        ("paper_answer_bleu", 1.0),
    ),
    "reference": (
        ("reference_answer_judge", 1.0),
        ("reference_answer_bleu", 1.0),
        ("reference_answer_format", 1.0),
        ("reference_repetition", 1.0),
        ("reference_box_format", 1.0),
        ("reference_think_format", 1.0),
    ),
}


def get_reward(name: str, settings: RewardSettings | None = None) -> Reward:
    """A reward callable by its registry name, else by the dotted path of a TRL-signature reward function
    (``mypkg.rewards.my_reward``), as TRL's GRPO script resolves ``reward_funcs``; KeyError saying what is wrong.

    >>> get_reward("answer_accuracy").name
    'answer_accuracy'
    >>> get_reward("grit.rewards.base.bleu1")  # a function, but not a reward: TRL would pass it the columns
    Traceback (most recent call last):
    KeyError: "reward 'grit.rewards.base.bleu1' does not take TRL's reward arguments: ..."
    """
    if name in REWARDS:
        return REWARDS[name](settings or RewardSettings())
    if "." not in name:
        raise KeyError(
            f"unknown reward {name!r}; known rewards: {', '.join(REWARDS)}; or give the dotted path of your own "
            "reward function, e.g. mypkg.rewards.my_reward"
        )
    return import_reward(name)


def import_reward(path: str) -> Callable:
    """The callable at a dotted path ``module.attr``; KeyError naming what did not import or is not callable."""
    module_name, _, attr = path.rpartition(".")
    here = os.getcwd()
    if here not in sys.path:  # a reward module beside the recipe, as `python -m` would find it (`grit` is a script)
        sys.path.append(here)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        missing = e.name is None or module_name == e.name or module_name.startswith(f"{e.name}.")
        if not missing:  # the module was found; something it imports was not
            raise KeyError(
                f"reward {path!r}: module {module_name!r} was found, but importing it failed ({e}); install what it "
                "imports"
            ) from e
        raise KeyError(
            f"reward {path!r}: cannot import module {module_name!r} ({e}); put it in the working directory or on "
            "PYTHONPATH, or install its package"
        ) from e
    except Exception as e:  # noqa: BLE001 - the user's module: a syntax error, or code that fails as it loads
        what = f"{e.msg} ({e.filename}:{e.lineno})" if isinstance(e, SyntaxError) else str(e)
        raise KeyError(
            f"reward {path!r}: importing module {module_name!r} failed: {type(e).__name__}: {what}; fix the module"
        ) from e
    func = getattr(module, attr, None)
    if func is None:
        raise KeyError(f"reward {path!r}: module {module_name!r} has no {attr!r}")
    if not callable(func):
        raise KeyError(f"reward {path!r} is {type(func).__name__!r}, not a function f(completions, **columns)")
    if not hasattr(func, "__name__"):  # TRL logs each reward by its __name__
        raise KeyError(f"reward {path!r} has no __name__; TRL logs each reward by it (set one)")
    if not takes_columns(func):
        raise KeyError(
            f"reward {path!r} does not take TRL's reward arguments: it must accept the completions and every data "
            "column by keyword, as f(completions, **kwargs)"
        )
    return checked_reward(func, path)


class RewardOutputError(ConfigError):
    """A user's reward function returned what neither TRL nor ``grit score`` can use."""


def checked_reward(func: Callable, path: str) -> Callable:
    """``func`` with its output checked at every call: one real number or None (the reward does not apply) per
    completion. A wrong length, a string or a NaN would otherwise fail deep inside the trainer, or train on NaN. An
    ``async`` reward stays one, so that TRL still awaits it."""

    def check(values, completions):
        problem = output_problem(values, len(completions))
        if problem:
            raise RewardOutputError(
                f"reward {path} {problem}; a reward returns a list with one float (or None where it does not apply) "
                "per completion"
            )
        return values

    try:  # where the reward's own code is (a class's, for a callable object)
        source = inspect.getsourcefile(func if inspect.isroutine(func) else type(func))
    except TypeError:  # no Python source of its own
        source = None

    def failed(e: Exception) -> RewardOutputError:
        frames = traceback.extract_tb(e.__traceback__)[1:]  # past this wrapper's own frame
        where = next((f for f in reversed(frames) if f.filename == source), frames[0] if frames else None)
        at = f" (at {where.filename}:{where.lineno})" if where else ""
        return RewardOutputError(
            f"reward {path} raised {type(e).__name__}: {e}{at}; fix the reward, "
            "which is called with the batch's completions and its data columns as keyword arguments"
        )

    if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__):

        @functools.wraps(func)
        async def async_reward(completions, **columns):
            try:
                values = await func(completions, **columns)
            except Exception as e:  # noqa: BLE001 - a user's code: any exception is theirs to fix
                raise failed(e) from e
            return check(values, completions)

        return async_reward

    @functools.wraps(func)
    def reward(completions, **columns):
        try:
            values = func(completions, **columns)
        except Exception as e:  # noqa: BLE001 - a user's code: any exception is theirs to fix
            raise failed(e) from e
        return check(values, completions)

    return reward


def output_problem(values: Any, n: int) -> str | None:
    """What is wrong with a reward's output for ``n`` completions, or None. A list, tuple, array or tensor of numbers
    (bools count, as TRL makes floats of them) or None.

    >>> output_problem([1.0, None], 2), output_problem([1.0], 2), output_problem(["a", 1], 2)
    (None, 'returned 1 value for 2 completions', "returned 'a' (str) for completion 1")
    """
    if hasattr(values, "tolist") and not isinstance(values, (list, tuple)):  # a numpy array or a torch tensor
        values = values.tolist()
    if not isinstance(values, (list, tuple)):
        return f"returned {type(values).__name__}, not a list"
    if len(values) != n:
        return f"returned {len(values)} value{'s' if len(values) != 1 else ''} for {n} completions"
    for i, v in enumerate(values, 1):
        if v is None:
            continue
        if not isinstance(v, numbers.Real):
            return f"returned {v!r} ({type(v).__name__}) for completion {i}"
        if not math.isfinite(v):
            return f"returned {v} for completion {i} (return None where the reward does not apply)"
    return None


def takes_columns(func: Callable) -> bool:
    """Whether ``func`` accepts ``completions`` and any keyword (TRL passes every data column); True when its
    signature cannot be read (a builtin), so as not to refuse what may work.

    >>> takes_columns(lambda completions, **kw: [0.0]), takes_columns(lambda a, *p: a)
    (True, False)
    """

    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return True
    kinds = {p.kind for p in params}
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return inspect.Parameter.VAR_KEYWORD in kinds and (
        bool(positional) or inspect.Parameter.VAR_POSITIONAL in kinds or "completions" in {p.name for p in params}
    )


def reward_problems(names: Sequence[str]) -> list[str]:
    """Why each reward name or dotted path would not resolve (an empty list: all do)."""
    problems = []
    for name in names:
        try:
            get_reward(name)
        except KeyError as e:
            problems.append(e.args[0])
    return problems


def reward_name_problems(preset: str, extra: Sequence[str]) -> list[str]:
    """Extra rewards given twice, already in the preset, or named (``__name__``, under which TRL logs a reward) like
    another term: one would hide the other in the logs and the rollout pages (an empty list: none)."""
    problems, given = [], set()
    taken = {name: f"preset {preset}'s term {name!r}" for name, _ in PRESETS.get(preset, ())}
    taken["diagnostics"] = "grit's chain diagnostics, logged as a reward"
    for path in extra:
        if path in given or path in taken:
            problems.append(
                f"{path!r} is {'given twice' if path in given else 'already ' + taken[path]}; give it once"
            )
            continue
        given.add(path)
        try:
            name = getattr(get_reward(path), "__name__", path)
        except KeyError:  # reported by reward_problems
            continue
        if name in taken:
            problems.append(
                f"{path!r} is named {name!r}, as {taken[name]}: TRL logs rewards by name, so one would hide the "
                "other; rename the function"
            )
        taken.setdefault(name, f"the reward {path!r}")
    return problems


def reward_terms(preset: str = "grit", extra: Sequence[str] = ()) -> dict[str, float]:
    """Each reward term's name and weight: the preset's, then ``extra`` rewards at weight 1.

    >>> list(reward_terms("grit", ["mypkg.rewards.mine"]))[-2:]
    ['repetition', 'mypkg.rewards.mine']
    """
    if preset not in PRESETS:
        raise KeyError(f"unknown reward preset {preset!r}; use one of {', '.join(PRESETS)}")
    terms = dict(PRESETS[preset])
    for name in extra:
        terms.setdefault(name, 1.0)
    return terms


def build_rewards(
    preset: str = "grit",
    settings: RewardSettings | None = None,
    extra: Sequence[str] = (),
    weights: dict[str, float] | None = None,
) -> tuple[list[Reward], list[float]]:
    """The reward callables and weights of a preset, plus ``extra`` rewards (weight 1 unless given), with
    ``weights`` overriding any term's weight by name (0 keeps a term logged but out of the total)."""
    terms = reward_terms(preset, extra)
    for name, weight in (weights or {}).items():
        if name not in terms:
            raise KeyError(f"weight given for {name!r}, which is not among the rewards {', '.join(terms)}")
        terms[name] = float(weight)
    settings = settings or RewardSettings()
    return [get_reward(name, settings) for name in terms], list(terms.values())


__all__ = [
    "PRESETS",
    "REWARDS",
    "Reward",
    "RewardSettings",
    "bleu1",
    "build_rewards",
    "completion_text",
    "get_reward",
    "import_reward",
    "RewardOutputError",
    "checked_reward",
    "output_problem",
    "reward_name_problems",
    "reward_problems",
    "reward_terms",
]
