"""Self-contained HTML pages: the evaluation report (tables per data set and question family, and chains drawn
on their images: best, worst and random). Images are embedded as data URIs, so one file is the whole report."""

from __future__ import annotations

import html
import random
from collections.abc import Sequence
from typing import Any

from grit.data.images import load_image
from grit.render import draw_boxes, to_data_uri

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ddd;border-radius:6px;padding:8px;width:360px}
.card img{width:100%;image-rendering:pixelated}.out{font-family:monospace;font-size:12px;white-space:pre-wrap;
background:#fafafa;padding:6px;max-height:200px;overflow:auto}.ok{color:#0a7d32}.bad{color:#b3261e}
.meta{font-size:13px;color:#555}
"""

METRICS = (
    ("accuracy", "accuracy"),
    ("union_iou", "grounding IoU (paper)"),
    ("matched_iou", "matched IoU"),
    ("precision50", "P@0.5"),
    ("recall50", "R@0.5"),
    ("format_compliance", "format compliance"),
    ("boxes_per_output", "boxes / output"),
    ("invalid_box_share", "invalid boxes"),
    ("consistency", "box-text agreement"),
    ("judge_failures", "judge failures"),
)


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


def metrics_table(groups: dict[str, dict[str, Any]], first: str = "data") -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in METRICS)
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{m['samples']}</td>"
        + "".join(f"<td>{fmt(m.get(k))}</td>" for k, _ in METRICS)
        + "</tr>"
        for name, m in groups.items()
    )
    return f"<table><tr><th>{html.escape(first)}</th><th>n</th>{head}</tr>{rows}</table>"


def chain_card(row: dict[str, Any], scale: float = 2.0) -> str:
    """One output drawn on its image: evidence boxes dashed white, the chain's boxes numbered in colour."""
    image = load_image(row["image"])
    drawn = draw_boxes(image, row["evidence_boxes"], None, scale, colour=(255, 255, 255), numbered=False, dashed=True)
    placed = [b for b in row["chain"]["boxes"] if b["original"] is not None]
    drawn = draw_boxes(drawn, [[v * scale for v in b["original"]] for b in placed], [b["label"] for b in placed], 1.0)
    verdict = "ok" if row.get("accuracy") else "bad"
    iou = "" if row.get("union_iou") is None else f" · IoU {row['union_iou']:.2f}"
    return (
        f"<div class='card'><img src='{to_data_uri(drawn)}'><div class='meta'>{html.escape(row['id'])} · "
        f"{html.escape(str(row.get('question_family') or row['answer_type']))}</div>"
        f"<div><b>Q</b> {html.escape(row['question'])}</div><div><b>gold</b> {html.escape(row['answer'])} · "
        f"<b>pred</b> <span class='{verdict}'>{html.escape(str(row['prediction']))}</span>{iou}</div>"
        f"<div class='out'>{html.escape(row['output'])}</div></div>"
    )


def example_rows(rows: Sequence[dict[str, Any]], k: int = 4, seed: int = 0) -> dict[str, list[dict]]:
    """Best, worst (by accuracy, then grounding IoU) and random outputs."""
    score = lambda r: ((r.get("accuracy") or 0.0), (r.get("union_iou") or 0.0), r["id"])  # noqa: E731
    ordered = sorted(rows, key=score)
    rng = random.Random(seed)
    return {"best": ordered[::-1][:k], "worst": ordered[:k], "random": rng.sample(list(rows), min(k, len(rows)))}


def eval_report(result, info: dict[str, Any]) -> str:
    parts = [
        f"<html><head><meta charset='utf-8'><title>grit eval</title><style>{STYLE}</style></head><body>",
        "<h1>grit evaluation</h1>",
        "<p class='meta'>"
        + " · ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in info.items())
        + "</p>",
        "<h2>Summary</h2>",
        metrics_table({name: m["all"] for name, m in result.metrics.items()}),
    ]
    for name, rows in result.rows.items():
        m = result.metrics[name]
        parts.append(f"<h2>{html.escape(name)}</h2>")
        parts.append(metrics_table(m["by_question_family"], "question family"))
        parts.append(metrics_table(m["by_answer_type"], "answer type"))
        if "cross_modal" in m:
            cm = m["cross_modal"]
            parts.append(
                f"<p>cross-modal consistency (judge): {fmt(cm['mean'])} ± {fmt(cm['std'])} over {cm['repeats']} "
                f"repeats, {cm['failures']} failed judgements</p>"
            )
        for title, chosen in example_rows(rows).items():
            parts.append(f"<h3>{title}</h3><div class='cards'>" + "".join(chain_card(r) for r in chosen) + "</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
