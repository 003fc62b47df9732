"""``grit score``: rescore saved completions with a reward preset, as GRPO-GR would score them."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grit.cli.common import FrameOptions, JudgeOptions, UsageError, check_not_empty, check_output_file, parse
from grit.rewards import PRESETS

HELP = "rescore saved completions with a reward preset"


@dataclass
class ScoreConfig:
    """``grit score``: every reward term per completion, the weighted total, boxes in original pixels."""

    data: str = field(metadata={"help": "samples, GRIT_data JSONL layout"})
    completions: str = field(
        metadata={"help": 'JSONL of {"id": ..., "completion": "..."} (a "question" there is checked against the data)'}
    )
    reward_preset: str = field(
        default="grit",
        metadata={
            "help": "grit (hack-resistant), paper or reference (literal)",
            "choices": tuple(PRESETS),
            "aliases": ["--preset"],
        },
    )
    extra_rewards: list[str] = field(
        default_factory=list,
        metadata={"help": "rewards added by registry name (e.g. grounding) or dotted path", "aliases": ["--reward"]},
    )
    images: str | None = field(
        default=None, metadata={"help": "image folder; only needed if width/height are missing"}
    )
    tokenizer: str | None = field(
        default=None, metadata={"help": "local tokenizer folder, for reference_repetition's token ids"}
    )
    out: str | None = field(default=None, metadata={"help": "write one JSON object per completion here"})
    overwrite: bool = field(default=False, metadata={"help": "replace --out if it exists"})


def main(argv: list[str]) -> int:
    from grit.arguments import split_config
    from grit.chain import parse as parse_chain
    from grit.data import read_samples
    from grit.grounding import frame_doubt
    from grit.rewards import RewardSettings, reward_name_problems, reward_problems
    from grit.score import read_completions, score_completions, summary_table, template_leaks

    cfg, frame, judge = parse(argv, ScoreConfig, FrameOptions, JudgeOptions, prog="grit score", description=HELP)
    spec = frame.spec()  # a frame the options contradict fails before any file is read
    # Scores are kept by each reward's name: a reward given twice, or named like another, would hide the other's.
    if problems := reward_problems(cfg.extra_rewards) + reward_name_problems(cfg.reward_preset, cfg.extra_rewards):
        raise UsageError(f"--extra_rewards: {problems[0]}")
    out = Path(cfg.out) if cfg.out is not None else None
    if out:
        check_not_empty(cfg.out)
        if cfg.out.endswith(("/", "\\")):
            raise UsageError(f"--out: {cfg.out} names a folder; give a file, such as {out / 'scored.jsonl'}")
        check_output_file(
            out,
            cfg.overwrite,
            {"--data": cfg.data, "--completions": cfg.completions, "--config": split_config(argv)[0]},
        )
    data = read_samples(cfg.data, cfg.images, check_images=cfg.images is not None)
    samples = {s.id: s for s in data.samples}
    completions = read_completions(cfg.completions, samples)
    tokenizer = None
    if cfg.tokenizer:
        from transformers import AutoTokenizer

        if not Path(cfg.tokenizer).is_dir():
            raise UsageError(f"--tokenizer {cfg.tokenizer}: not a folder; give a model or tokenizer folder")
        try:
            tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer)
        except (OSError, ValueError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UsageError(
                f"--tokenizer {cfg.tokenizer}: no tokenizer could be loaded from this folder ({reason}); give the "
                "folder of the model that wrote the completions"
            ) from e
    llm_judge = judge.make()
    settings = RewardSettings(frame=spec, judge=llm_judge)
    try:
        records, names, weights = score_completions(
            completions, samples, cfg.reward_preset, settings, cfg.extra_rewards, tokenizer
        )
    except KeyError as e:  # a reward name or dotted path that does not resolve to a reward
        raise UsageError(e.args[0]) from e
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for r in records:
            line = json.dumps(r, ensure_ascii=False)
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate from a JSON escape: keep it escaped, as it came
                line = json.dumps(r)
            lines.append(line + "\n")
        with out.open("w", encoding="utf-8") as f:
            f.writelines(lines)
    print(f"preset {cfg.reward_preset}: {len(records)} completions of {len(samples)} samples ({cfg.data})")
    print(summary_table(records, names, weights))
    asked = [samples[c.id] for c in completions]
    items = [(parse_chain(c.text), s.width, s.height, s.evidence_boxes) for c, s in zip(completions, asked)]
    if doubt := frame_doubt(items, spec):
        pixels = (
            f" (pixels of a resized input read with other --min_pixels/--max_pixels than {spec.min_pixels}/"
            f"{spec.max_pixels} fit badly too: give the model's processor's)"
            if spec.kind == "resized"
            else ""
        )
        print(f"warning: {doubt}. Score again with that --frame{pixels}", file=sys.stderr)
    if leaks := template_leaks([c.text for c in completions]):
        print(f"warning: {leaks}", file=sys.stderr)
    if llm_judge is not None and (note := llm_judge.failure_note()):
        print(f"warning: {note}", file=sys.stderr)
        if llm_judge.scored == 0:
            raise UsageError(f"the judge scored no completion{f' ({out} is written)' if out else ''}; fix the judge")
    if "reference_repetition" in names and tokenizer is None:
        print("note: reference_repetition needs token ids; pass --tokenizer DIR to compute it")
    if out:
        print(f"wrote {out}")
    return 0
