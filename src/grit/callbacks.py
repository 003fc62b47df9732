"""What GRPO-GR training logs beyond TRL's own, and how a person watches it learn.

- :class:`ChainDiagnostics`: a weight-0 "reward" that returns None (it scores nothing) and logs, through TRL's
  ``log_metric``/``log_extra`` hooks, format compliance, boxes per chain, the share of invalid and of whole-image
  boxes, and the grounding IoU of the chains where the data has evidence boxes (a metric, not a reward);
- :class:`ZeroStdAlarm`: warns when the share of groups whose rewards all tie (zero advantage, no gradient)
  stays high, the failure GRIT users hit (GRIT issue #2) and the prototypes' hacked runs ended in;
- :class:`RolloutViewer`: every N steps a rollout page (:func:`grit.report.rollout_page`) with, for a few prompts,
  the whole group of sampled completions, their boxes drawn on the image in original pixels, every reward term and
  the advantage;
- :class:`JsonLog` and :class:`TrainProgress` (put in place by :func:`console_callbacks`): every log to
  ``OUT/log.jsonl``, and one progress bar on the console with the few figures that matter, instead of a dict per log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from grit.chain import parse
from grit.grounding import chain_record, frame_for, grounding_scores
from grit.progress import Stage, figures, finish, start
from grit.rewards.base import BoxReward, completion_text

logger = logging.getLogger(__name__)


class ChainDiagnostics(BoxReward):
    name = "diagnostics"

    def score(self, text, chain, row):  # per-sample values come from __call__
        return None

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[None]:
        rows = self.rows(completions, kwargs)
        strict = boxes = invalid = whole = 0
        ious = []
        for completion, row in zip(completions, rows):
            chain = parse(completion_text(completion))
            strict += chain.strict
            placed = self.think_boxes(chain, row)
            boxes += len(placed)
            invalid += sum(1 for p in placed if not p.valid)
            whole += sum(1 for p in placed if p.problem == "whole image")
            scores = grounding_scores([p.original for p in placed if p.valid], row.get("evidence_boxes") or [])
            if scores is not None:
                ious.append(scores.union_iou)
        n = max(len(rows), 1)
        log_metric, log_extra = kwargs.get("log_metric"), kwargs.get("log_extra")
        if log_metric is not None:
            log_metric("grit/format_compliance", strict / n)
            log_metric("grit/boxes_per_chain", boxes / n)
            log_metric("grit/invalid_box_share", invalid / boxes if boxes else 0.0)
            log_metric("grit/whole_image_box_share", whole / boxes if boxes else 0.0)
            if ious:
                log_metric("grit/grounding_iou", sum(ious) / len(ious))
        if log_extra is not None and rows and "id" in rows[0]:
            log_extra("sample_id", [str(r["id"]) for r in rows])
        return [None] * len(rows)


class ZeroStdAlarm(TrainerCallback):
    """Warn once per episode when ``frac_reward_zero_std`` stays >= ``threshold`` for ``patience`` logs."""

    def __init__(self, threshold: float = 0.9, patience: int = 20):
        self.threshold, self.patience, self.run, self.warned = threshold, patience, 0, False

    def on_log(self, args, state, control, logs=None, **kwargs):
        value = (logs or {}).get("frac_reward_zero_std")
        if value is None:
            return
        self.run = self.run + 1 if value >= self.threshold else 0
        if self.run < self.patience:
            self.warned = False
        elif not self.warned:
            self.warned = True
            logger.warning(
                "for %d logged steps, >= %.0f%% of groups had identical rewards (zero advantage, no learning signal) "
                "at step %d. The policy may have collapsed to one output or hacked a reward; look at the rollout "
                "viewer, lower the learning rate or raise beta.",
                self.run,
                100 * self.threshold,
                state.global_step,
            )


class RolloutViewer(TrainerCallback):
    """Writes ``OUT/rollouts/step-NNNNNN.html`` every ``every`` steps. Reads the completions TRL keeps for its
    own completion logging (``GRPOTrainer._logs``, private: checked, with a clear error if TRL changes it)."""

    def __init__(self, samples: dict[str, Any], frame, num_generations: int, every: int = 25, prompts: int = 4):
        self.samples, self.frame, self.g, self.every, self.prompts = samples, frame, num_generations, every, prompts
        self.trainer = None
        self.pages: list[Path] = []

    def on_step_end(self, args, state, control, **kwargs):
        if self.trainer is None or not state.is_world_process_zero:
            return
        if state.global_step % self.every == 0 or state.global_step == state.max_steps:
            self.write(Path(args.output_dir), state.global_step)

    def _logs(self) -> dict:
        logs = getattr(self.trainer, "_logs", None)
        if not isinstance(logs, dict) or not {"completion", "rewards", "advantages", "extra"} <= set(logs):
            raise RuntimeError(
                "this TRL version keeps no GRPOTrainer._logs with completions, rewards and advantages; "
                "the rollout viewer needs them (disable it with viewer_every: 0)"
            )
        return logs

    def write(self, out: Path, step: int) -> Path | None:
        from grit.report import rollout_page

        logs = self._logs()
        completions = list(logs["completion"])
        ids = list(logs["extra"].get("sample_id", []))
        if not completions or len(ids) != len(completions):
            return None
        rewards = {name: list(values) for name, values in logs["rewards"].items() if name != "diagnostics"}
        advantages = list(logs["advantages"])
        groups = [range(i, i + self.g) for i in range(0, len(completions) - self.g + 1, self.g)][: self.prompts]
        page = out / "rollouts" / f"step-{step:06d}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        html = rollout_page(step, [self._group(group, completions, ids, rewards, advantages) for group in groups])
        page.write_text(html, encoding="utf-8")
        self.pages.append(page)
        return page

    def _group(self, group, completions, ids, rewards, advantages) -> dict[str, Any]:
        """One prompt's completions with their boxes in original pixels, reward terms and advantages."""
        sample = self.samples[ids[group[0]]]
        frame = frame_for(self.frame, sample.width, sample.height)
        shown = []
        for i in group:
            text = completion_text(completions[i])
            boxes = [b["original"] for b in chain_record(parse(text), frame)["boxes"] if b["original"] is not None]
            terms = {name: values[i] for name, values in rewards.items()}
            shown.append({"text": text, "boxes": boxes, "advantage": advantages[i], "rewards": terms})
        return {
            "id": sample.id,
            "question": sample.question,
            "answer": sample.answer,
            "image": sample.image_path,
            "evidence_boxes": sample.evidence_boxes,
            "completions": shown,
        }


class JsonLog(TrainerCallback):
    """Every log TRL makes, one JSON object a line, in ``OUT/log.jsonl`` (appended to on resume). The console shows
    only a few of its figures (:class:`TrainProgress`)."""

    def __init__(self):
        self.path: Path | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.path = Path(args.output_dir) / "log.jsonl"
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if state.global_step == 0:
                self.path.write_text("")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.path is not None and logs:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, **logs}, default=str) + "\n")


class TrainProgress(TrainerCallback):
    """The console during training, in place of transformers' PrinterCallback/ProgressCallback (which print every
    log as a dict): one bar over the steps with an ETA and, from the last log, the figures that matter.
    ``TQDM_DISABLE=1`` turns it off."""

    FIGURES = {
        "reward": "reward",
        "format": "grit/format_compliance",
        "acc": "rewards/answer_accuracy/mean",
        "IoU": "grit/grounding_iou",
        "zero-std": "frac_reward_zero_std",
        "s/step": "step_time",
    }

    def __init__(self, progress: Stage | None = None):
        self.progress, self.bar = progress, None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = start(self.progress, "steps" if self.progress else "GRPO-GR", state.max_steps, "step")
            self.bar.update(state.global_step)  # resumed runs start where they stopped

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is None or not logs:
            return
        shown = {label: logs.get(key) for label, key in self.FIGURES.items()}
        self.bar.set_postfix(figures({k: v for k, v in shown.items() if isinstance(v, (int, float))}), refresh=False)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            finish(self.progress, self.bar)
            self.bar = None


def console_callbacks(trainer, progress: Stage | None = None) -> None:
    """Swap transformers' console callbacks (a dict per log on stdout) for :class:`TrainProgress` and
    :class:`JsonLog`; TensorBoard and the like stay as ``report_to`` asks."""
    from transformers.trainer import DEFAULT_PROGRESS_CALLBACK
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for callback in list(trainer.callback_handler.callbacks):
        if isinstance(callback, (PrinterCallback, ProgressCallback, DEFAULT_PROGRESS_CALLBACK)):
            trainer.remove_callback(callback)
    trainer.add_callback(JsonLog())
    trainer.add_callback(TrainProgress(progress))
