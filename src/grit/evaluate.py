"""``grit eval``: greedy generation over one or more data files, the metrics of :mod:`grit.metrics`, and the
outputs a person reads (predictions JSONL, metrics JSON, a console table, an HTML report).

Results do not depend on the batch size or the order of the samples: generation batches only prompts of equal
length (:mod:`grit.models.generation`) and every metric is per sample.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grit.answers import verify
from grit.chain import parse
from grit.data.images import load_image
from grit.data.schema import Sample
from grit.grounding import chain_record, frame_for
from grit.metrics import aggregate, gain_text, grouped, paired_gain, prediction_of, sample_metrics
from grit.models.generation import GenerationSettings, PromptTooLong, generate, stop_strings
from grit.models.loading import Policy
from grit.progress import Stage, figures, phase
from grit.prompts import CHAIN_PROMPTS

CHUNK = 256  # samples whose images are in memory at once


@dataclass
class EvalSettings:
    prompt: str = "grounded"
    batch_size: int = 16
    max_new_tokens: int = 256
    judge: Any = None  # an OpenAIJudge for accuracy; None = rule-based verifier
    cross_modal: bool = False  # run the paper's judge protocol for box/text consistency (needs judge)
    cross_modal_repeats: int = 3


@dataclass
class EvalResult:
    rows: dict[str, list[dict[str, Any]]]
    metrics: dict[str, Any] = field(default_factory=dict)


def _generate_all(policy: Policy, samples: Sequence[Sample], settings: EvalSettings, bar) -> list[str]:
    gen = GenerationSettings(max_new_tokens=settings.max_new_tokens, batch_size=settings.batch_size)
    chained, judged = settings.prompt in CHAIN_PROMPTS, settings.judge is not None
    right = formatted = 0
    texts: list[str] = []
    for lo in range(0, len(samples), CHUNK):
        chunk = samples[lo : lo + CHUNK]

        def done(indices: list[int], outputs: list[str], chunk=chunk) -> None:
            nonlocal right, formatted
            for i, text in zip(indices, outputs):  # a judge scores after generation: no accuracy so far then
                s = chunk[i]
                if not judged:
                    right += verify(prediction_of(text, settings.prompt), s.answer, s.answer_type, s.question)
                formatted += chained and parse(text).strict
            bar.update(len(indices))
            seen = bar.n or 1
            so_far = {"acc": None if judged else right / seen, "format": formatted / seen if chained else None}
            bar.set_postfix(figures(so_far), refresh=False)

        images = [load_image(s.image_path) for s in chunk]
        try:
            texts += generate(policy, images, [s.question for s in chunk], settings.prompt, gen, on_batch=done)
        except PromptTooLong as e:  # the image's tokens made it so: name the sample
            raise e.at(chunk[e.index].source or chunk[e.index].id) from e
    return texts


def stopped_at_limit(policy: Policy, texts: Sequence[str], settings: EvalSettings) -> list[bool]:
    """Whether each output ran to ``max_new_tokens`` without ending (no end of turn, and for a chain prompt no
    ``</answer>``): it was cut there, and is scored as it stands. Found from the text's own tokens (an output that
    ended holds fewer than the limit: its end-of-turn token was one of them)."""
    stops = stop_strings(policy, settings.prompt, GenerationSettings(max_new_tokens=settings.max_new_tokens))
    counts = (
        [len(ids) for ids in policy.tokenizer(list(texts), add_special_tokens=False)["input_ids"]] if texts else []
    )
    return [n >= settings.max_new_tokens and not any(t in text for t in stops) for n, text in zip(counts, texts)]


def _rows(
    policy: Policy,
    samples: Sequence[Sample],
    texts: Sequence[str],
    settings: EvalSettings,
    limited: Sequence[bool] | None = None,
) -> list[dict]:
    """One row per sample: its output, chain and metrics; ``limited``: :func:`stopped_at_limit` of each output."""
    judged = settings.judge is not None
    scores: list[float | None] = [None] * len(samples)
    if judged:
        predictions = [prediction_of(t, settings.prompt) for t in texts]
        asks = [(i, (s.question, s.answer, p)) for i, (s, p) in enumerate(zip(samples, predictions)) if p is not None]
        for (i, _), result in zip(asks, settings.judge.score_many([a for _, a in asks])):
            scores[i] = result.score
        for i, p in enumerate(predictions):
            if p is None:
                scores[i] = 0.0  # no answer given: wrong, not a judge failure
    limited = limited or [False] * len(texts)
    rows = []
    for i, (s, text) in enumerate(zip(samples, texts)):
        m = sample_metrics(text, s, policy.frame, settings.prompt, scores[i], judged)
        chain = chain_record(parse(text), frame_for(policy.frame, s.width, s.height))
        rows.append(
            {
                "id": s.id,
                "dataset": s.dataset,
                "question": s.question,
                "answer": s.answer,
                "answer_type": s.answer_type,
                "question_family": s.extra.get("family"),
                "image": str(s.image_path),
                "evidence_boxes": [list(b) for b in s.evidence_boxes],
                "output": text,
                "stopped_at_limit": limited[i],
                "chain": {k: chain[k] for k in ("blocks", "boxes")},
                **m,
            }
        )
    return rows


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "all": aggregate(rows),
        "by_answer_type": grouped(rows, "answer_type"),
        "by_question_family": grouped(rows, "question_family"),
    }


def evaluate(
    policy: Policy, data: dict[str, Sequence[Sample]], settings: EvalSettings, progress: Stage | None = None
) -> EvalResult:
    """Evaluate ``policy`` on each named data set; ``metrics`` holds each set's summary and the overall one.
    A progress bar per data set shows the accuracy so far (``progress``: a :class:`grit.progress.Stage` to use)."""
    result = EvalResult({})
    for name, samples in data.items():
        with phase(progress, f"{settings.prompt} · {name}", len(samples), "sample") as bar:
            texts = _generate_all(policy, samples, settings, bar)
        limited = stopped_at_limit(policy, texts, settings)
        result.rows[name] = [{"data": name, **r} for r in _rows(policy, samples, texts, settings, limited)]
        result.metrics[name] = summarize(result.rows[name])
        if settings.cross_modal and settings.judge is not None:
            result.metrics[name]["cross_modal"] = _cross_modal(result.rows[name], settings)
    every = [r for rows in result.rows.values() for r in rows]
    result.metrics["overall"] = summarize(every)
    return result


def _cross_modal(rows: Sequence[dict], settings: EvalSettings) -> dict[str, Any]:
    from grit.consistency import judge_consistency

    items = [(load_image(r["image"]), parse(r["output"]).without_boxes(), r["boxes_original"]) for r in rows]
    return judge_consistency(settings.judge, items, settings.cross_modal_repeats)


def write_outputs(result: EvalResult, out: Path, info: dict[str, Any], seed: int | None = None) -> None:
    """``predictions.jsonl``, ``metrics.json`` (with the run's provenance) and ``report.html`` in ``out``."""
    from grit.provenance import provenance

    record = provenance(seed)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "predictions.jsonl").open("w", encoding="utf-8") as f:
        for rows in result.rows.values():
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    (out / "metrics.json").write_text(
        json.dumps({"info": info, "metrics": result.metrics, "provenance": record}, indent=2) + "\n"
    )
    from grit.report import eval_report

    (out / "report.html").write_text(eval_report(result, info, record), encoding="utf-8")


COLUMNS = (
    ("accuracy", "acc", "{:.3f}"),
    ("union_iou", "IoU", "{:.3f}"),
    ("matched_iou", "mIoU", "{:.3f}"),
    ("recall50", "R@.5", "{:.2f}"),
    ("format_compliance", "format", "{:.2f}"),
    ("boxes_per_output", "boxes", "{:.2f}"),
    ("invalid_box_share", "invalid", "{:.2f}"),
    ("consistency", "consist", "{:.2f}"),
)


def _cell(value, fmt) -> str:
    return "-" if value is None else fmt.format(value)


def console_table(metrics: dict[str, Any]) -> str:
    """One line per data set (and per question family within it) with the headline metrics."""
    lines = [f"{'data':<28}{'n':>6}" + "".join(f"{h:>9}" for _, h, _ in COLUMNS)]
    shown = {k: v for k, v in metrics.items() if k != "overall"} if len(metrics) == 2 else metrics
    for name, m in shown.items():  # one data set: its block alone, not again as "overall"
        lines.append(
            f"{name:<28}{m['all']['samples']:>6}" + "".join(f"{_cell(m['all'][k], f):>9}" for k, _, f in COLUMNS)
        )
        for fam, fm in m.get("by_question_family", {}).items():
            if fam != "-" and len(m["by_question_family"]) > 1:
                lines.append(
                    f"  {fam:<26}{fm['samples']:>6}" + "".join(f"{_cell(fm[k], f):>9}" for k, _, f in COLUMNS)
                )
        failures = m["all"].get("judge_failures")
        if failures:
            lines.append(f"  judge failures: {failures} samples left out of accuracy")
    return "\n".join(lines)


def compare(
    a: dict[str, Any],
    b: dict[str, Any],
    names: tuple[str, str] = ("A", "B"),
    rows: tuple[Sequence[dict], Sequence[dict]] | None = None,
) -> str:
    """Two metrics.json files side by side, with B - A per data set and metric; given both runs' prediction rows,
    also the accuracy change paired over the same samples with its 95 % interval."""
    ma, mb = a["metrics"], b["metrics"]
    lines = [f"{'data / metric':<34}{names[0]:>10}{names[1]:>10}{'delta':>10}"]
    for dataset in [d for d in ma if d in mb]:
        lines.append(dataset)
        for key, label, fmt in COLUMNS:
            va, vb = ma[dataset]["all"].get(key), mb[dataset]["all"].get(key)
            delta = "-" if va is None or vb is None else f"{vb - va:+.3f}"
            lines.append(f"  {label:<32}{_cell(va, fmt):>10}{_cell(vb, fmt):>10}{delta:>10}")
        if rows:
            ra, rb = ([r for r in side if dataset == "overall" or r.get("data") == dataset] for side in rows)
            lines.append(f"  {'acc change, paired (95 %)':<32}{gain_text(paired_gain(ra, rb)):>30}")
    missing = sorted(set(ma) ^ set(mb))
    if missing:
        lines.append(f"(only in one file: {', '.join(missing)})")
    return "\n".join(lines)


def settings_info(settings: EvalSettings) -> dict[str, Any]:
    info = {k: getattr(settings, k) for k in ("prompt", "batch_size", "max_new_tokens", "cross_modal")}
    info["judge"] = "rules" if settings.judge is None else f"openai:{settings.judge.model}"
    return info
