"""What GRPO-GR training logs beyond TRL's own, and how a person watches it learn.

- :class:`ChainDiagnostics`: a weight-0 "reward" that returns None (it scores nothing) and logs, through TRL's
  ``log_metric``/``log_extra`` hooks, format compliance, boxes per chain, the share of invalid and of whole-image
  boxes, and the grounding IoU of the chains where the data has evidence boxes (a metric, not a reward);
- :class:`ZeroStdAlarm`: warns when the share of groups whose rewards all tie (zero advantage, no gradient)
  stays high, the failure GRIT users hit (GRIT issue #2) and the prototypes' hacked runs ended in;
- :class:`RolloutViewer`: every N steps a self-contained HTML page with, for a few prompts, the whole group of
  sampled completions, their boxes drawn on the image in original pixels, every reward term and the advantage;
- :func:`plot_history`: PNG plots of reward terms and metrics over steps.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from grit.chain import parse
from grit.grounding import chain_record, frame_for, grounding_scores
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
        logs = self._logs()
        completions = list(logs["completion"])
        ids = list(logs["extra"].get("sample_id", []))
        if not completions or len(ids) != len(completions):
            return None
        rewards = {name: list(values) for name, values in logs["rewards"].items() if name != "diagnostics"}
        advantages = list(logs["advantages"])
        groups = [range(i, i + self.g) for i in range(0, len(completions) - self.g + 1, self.g)][: self.prompts]
        body = [f"<h1>rollouts at step {step}</h1>"]
        for group in groups:
            body.append(self._group_html(group, completions, ids, rewards, advantages))
        page = out / "rollouts" / f"step-{step:06d}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(_page(f"rollouts at step {step}", "\n".join(body)), encoding="utf-8")
        self.pages.append(page)
        return page

    def _group_html(self, group, completions, ids, rewards, advantages) -> str:
        from grit.render import draw_boxes, to_data_uri
        from grit.report import fmt

        sample = self.samples[ids[group[0]]]
        image = sample.image_path and _open(sample.image_path)
        cells = []
        for i in group:
            text = completion_text(completions[i])
            record = chain_record(parse(text), frame_for(self.frame, sample.width, sample.height))
            drawn = [b["original"] for b in record["boxes"] if b["original"] is not None]
            picture = ""
            if image is not None:
                scale = max(1.0, 224 / max(image.width, image.height))
                shown = draw_boxes(image, sample.evidence_boxes, None, scale, (255, 255, 255), False, True)
                shown = draw_boxes(shown, [[v * scale for v in b] for b in drawn], None, 1.0)
                picture = f"<img src='{to_data_uri(shown)}'>"
            terms = " · ".join(f"{html.escape(n)} {fmt(v[i])}" for n, v in rewards.items())
            cells.append(
                f"<div class='card'>{picture}<div class='meta'>advantage <b>{fmt(advantages[i])}</b> · "
                f"{terms}</div><div class='out'>{html.escape(text)}</div></div>"
            )
        return (
            f"<h2>{html.escape(sample.id)}: {html.escape(sample.question)} (gold: {html.escape(sample.answer)})</h2>"
            f"<div class='cards'>{''.join(cells)}</div>"
        )


def _open(path):
    from grit.data.images import load_image

    return load_image(path)


def _page(title: str, body: str) -> str:
    from grit.report import STYLE

    return (
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def plot_history(history: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """PNG plots over steps: reward terms (means), the total reward and zero-std share, grit's chain metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    rows = [h for h in history if "step" in h]
    panels = {
        "rewards.png": sorted(
            {k for h in rows for k in h if k.startswith("rewards/") and k.endswith("/mean") and "diagnostics" not in k}
        ),
        "reward_and_ties.png": [k for k in ("reward", "frac_reward_zero_std") if any(k in h for h in rows)],
        "chains.png": sorted({k for h in rows for k in h if k.startswith("grit/")}),
    }
    written = []
    for name, keys in panels.items():
        if not keys:
            continue
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for key in keys:
            points = [(h["step"], h[key]) for h in rows if isinstance(h.get(key), (int, float))]
            if points:
                ax.plot(*zip(*points), label=key.replace("rewards/", "").replace("/mean", ""))
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        written.append(out / name)
    return written
