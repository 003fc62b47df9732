"""Every HTML page grit writes, from one shell: the evaluation report (``grit eval``), the quickstart report and the
GRPO rollout pages; and the PNG training curves (:func:`plot_history`). Helpers: :func:`page` (the shell: style,
header), :func:`table`, :func:`card`, :func:`image`.
Images are embedded as data URIs, so each page is one self-contained file; pages link to each other relatively.
"""

from __future__ import annotations

import html
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from grit.data.images import load_image
from grit.metrics import gain_text
from grit.provenance import provenance_line
from grit.render import draw_boxes, to_data_uri

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
header.grit{border-bottom:2px solid #222;padding-bottom:6px;margin-bottom:12px;font-size:14px;color:#555}
header.grit b{color:#222;font-size:16px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ddd;border-radius:6px;padding:8px;width:360px}
.card img{width:100%;image-rendering:pixelated}.out{font-family:monospace;font-size:12px;white-space:pre-wrap;
background:#fafafa;padding:6px;max-height:200px;overflow:auto}.ok{color:#0a7d32}.bad{color:#b3261e}
.meta{font-size:13px;color:#555}.card,td,.meta,h2,h3{overflow-wrap:anywhere}
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


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def text(value: Any) -> str:
    """``value`` escaped as element text and isolated, so that right-to-left marks in it (a data file's or a
    model's) cannot reorder grit's text around it."""
    return f"<bdi>{esc(value)}</bdi>"


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else esc(value)


def page(title: str, body: str, meta: str = "") -> str:
    """One whole HTML document in grit's shell: the shared style, a header naming the page, then ``body``."""
    subtitle = f"<p class='meta'>{meta}</p>" if meta else ""
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>grit · {esc(title)}</title>"
        f"<style>{STYLE}</style></head><body><header class='grit'><b>grit</b> · {esc(title)}</header>"
        f"<h1>{esc(title)}</h1>{subtitle}\n{body}\n</body></html>\n"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table; ``header`` is plain text, ``rows`` hold HTML cells (escape them with :func:`fmt` or :func:`esc`)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def image(picture: Image.Image, alt: str = "", style: str = "") -> str:
    return f"<img src='{to_data_uri(picture)}' alt='{esc(alt)}'" + (f" style='{esc(style)}'" if style else "") + ">"


def card(picture: str, lines: Sequence[str], output: str) -> str:
    """A card: a picture (HTML), lines of HTML under it, and a model output as monospace text."""
    body = "".join(f"<div>{line}</div>" for line in lines)
    return f"<div class='card'>{picture}{body}<div class='out'>{text(output)}</div></div>"


def cards(items: Sequence[str]) -> str:
    return f"<div class='cards'>{''.join(items)}</div>"


def links(targets: Sequence[Path], base: Path) -> str:
    """A list of links to ``targets``, relative to the folder ``base`` the page is written in."""
    items = "".join(
        f"<li><a href='{esc(t.relative_to(base).as_posix())}'>{esc(t.relative_to(base).as_posix())}</a></li>"
        for t in targets
    )
    return f"<ul>{items}</ul>" if items else "<p class='meta'>none written</p>"


def metrics_table(groups: dict[str, dict[str, Any]], first: str = "data") -> str:
    rows = [[text(name), fmt(m["samples"])] + [fmt(m.get(k)) for k, _ in METRICS] for name, m in groups.items()]
    return table([first, "n"] + [label for _, label in METRICS], rows)


def chain_card(row: dict[str, Any], scale: float = 2.0) -> str:
    """One output drawn on its image: evidence boxes dashed white, the chain's boxes numbered in colour."""
    picture = load_image(row["image"])
    drawn = draw_boxes(
        picture, row["evidence_boxes"], None, scale, colour=(255, 255, 255), numbered=False, dashed=True
    )
    placed = [b for b in row["chain"]["boxes"] if b["original"] is not None]
    drawn = draw_boxes(drawn, [[v * scale for v in b["original"]] for b in placed], [b["label"] for b in placed], 1.0)
    verdict = "ok" if row.get("accuracy") else "bad"
    iou = "" if row.get("union_iou") is None else f" · IoU {row['union_iou']:.2f}"
    lines = [
        f"<span class='meta'>{text(row['id'])} · {text(row.get('question_family') or row['answer_type'])}</span>",
        f"<b>Q</b> {text(row['question'])}",
        f"<b>gold</b> {text(row['answer'])} · <b>pred</b> "
        f"<span class='{verdict}'>{text(row['prediction'])}</span>{iou}",
    ]
    return card(image(drawn, row["id"]), lines, row["output"])


def example_rows(rows: Sequence[dict[str, Any]], k: int = 4, seed: int = 0) -> dict[str, list[dict]]:
    """Best, worst (by accuracy, then grounding IoU) and random outputs."""
    score = lambda r: ((r.get("accuracy") or 0.0), (r.get("union_iou") or 0.0), r["id"])  # noqa: E731
    ordered = sorted(rows, key=score)
    rng = random.Random(seed)
    return {"best": ordered[::-1][:k], "worst": ordered[:k], "random": rng.sample(list(rows), min(k, len(rows)))}


def examples(rows: Sequence[dict[str, Any]]) -> str:
    chosen = example_rows(rows)
    return "".join(f"<h3>{title}</h3>" + cards([chain_card(r) for r in some]) for title, some in chosen.items())


def eval_report(result, info: dict[str, Any], record: dict[str, Any] | None = None) -> str:
    meta = " · ".join(f"{esc(k)}: {text(v)}" for k, v in info.items())
    if record:
        meta += "<br>" + esc(provenance_line(record))
    parts = ["<h2>Summary</h2>", metrics_table({name: m["all"] for name, m in result.metrics.items()})]
    for name, rows in result.rows.items():
        m = result.metrics[name]
        parts.append(f"<h2>{text(name)}</h2>")
        parts.append(metrics_table(m["by_question_family"], "question family"))
        parts.append(metrics_table(m["by_answer_type"], "answer type"))
        if "cross_modal" in m:
            cm = m["cross_modal"]
            parts.append(
                f"<p>cross-modal consistency (judge): {fmt(cm['mean'])} ± {fmt(cm['std'])} over {cm['repeats']} "
                f"repeats, {cm['failures']} failed judgements</p>"
            )
        parts.append(examples(rows))
    return page("evaluation", "\n".join(parts), meta)


def quickstart_report(summary: dict[str, Any], rows: list[dict], out: Path) -> str:
    """``OUT/report.html`` of ``grit quickstart``: targets, before/after tables, training curves, links to the
    evaluation reports (``eval/*/report.html``), the rollout pages (``grpo/rollouts/*.html``) and the logs, and
    chains after GRPO-GR."""
    cols = list(next(iter(summary["table"].values())))
    before_after = table(
        ["question family"] + [c.replace("_", " ") for c in cols],
        [[esc(f)] + [fmt(r[c]) for c in cols] for f, r in summary["table"].items()],
    )
    own = summary.get("gain_over_warm_start") or {}
    gains = table(
        ["question family", "after GRPO-GR minus base direct", "after GRPO-GR minus after the warm start"],
        [
            [esc(f), esc(gain_text(g)), esc(gain_text(own[f])) if f in own else "-"]
            for f, g in summary["gain_over_base_direct"].items()
        ],
    )
    targets = "".join(
        f"<li class='{'ok' if ok else 'bad'}'>{'met' if ok else 'not met'}: {esc(t)}</li>"
        for t, ok in summary["targets"].items()
    )
    times = " · ".join(f"{esc(k)} {v:.0f} s" for k, v in summary["seconds"].items())
    meta = f"{times} · {summary['grpo_steps']} GRPO-GR steps"
    if "provenance" in summary:
        meta += "<br>" + esc(provenance_line(summary["provenance"]))
    pictures = "".join(
        f"<h3>{esc(p.stem)}</h3>" + image(Image.open(p), p.stem, "max-width:800px")
        for p in sorted((out / "grpo" / "plots").glob("*.png"))
    )
    logs = (out / "grpo" / "log.jsonl", out / "grpo" / "trainer_state.json", out / "summary.json")
    return page(
        "quickstart",
        f"<h2>Targets</h2><ul>{targets}</ul><h2>Before and after, held-out test split</h2>{before_after}"
        "<h3>Changes of grounded accuracy, paired over the same questions (95 % interval)</h3>"
        f"{gains}<h2>Evaluation reports</h2>{links(sorted(out.glob('eval/*/report.html')), out)}"
        f"<h2>Rollouts during GRPO-GR</h2>{links(sorted(out.glob('grpo/rollouts/step-*.html')), out)}"
        f"<h2>Logs</h2>{links([p for p in logs if p.exists()], out)}"
        f"<h2>Training curves</h2>{pictures}<h2>Chains after GRPO-GR</h2>{examples(rows)}",
        meta,
    )


def rollout_group(group: dict[str, Any]) -> str:
    """One prompt and its sampled completions. ``group``: id, question, answer, image (path or None),
    evidence_boxes, and completions, each with text, boxes (original pixels), advantage and rewards by name."""
    picture = load_image(group["image"]) if group.get("image") else None
    items = []
    for c in group["completions"]:
        shown = ""
        if picture is not None:
            scale = max(1.0, 224 / max(picture.width, picture.height))
            drawn = draw_boxes(picture, group["evidence_boxes"], None, scale, (255, 255, 255), False, True)
            shown = image(draw_boxes(drawn, [[v * scale for v in b] for b in c["boxes"]], None, 1.0), group["id"])
        terms = " · ".join(f"{esc(n)} {fmt(v)}" for n, v in c["rewards"].items())
        line = f"<span class='meta'>advantage <b>{fmt(c['advantage'])}</b> · {terms}</span>"
        items.append(card(shown, [line], c["text"]))
    return f"<h2>{text(group['id'])}: {text(group['question'])} (gold: {text(group['answer'])})</h2>" + cards(items)


def rollout_page(step: int, groups: Sequence[dict[str, Any]]) -> str:
    """``OUT/rollouts/step-NNNNNN.html``: for a few prompts of one step, the whole group of sampled completions."""
    return page(f"rollouts at step {step}", "\n".join(rollout_group(g) for g in groups))


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
