"""The quickstart's summary: the figures per question family before and after each stage, the paired gains over the
base's direct answers and over the warm start, and the miniature's targets (issue 15), each met or not.
"""

from __future__ import annotations

from typing import Any

from grit.metrics import paired_gain

# The miniature's targets (issue 15): grounded chains after GRPO-GR against the same base's direct answers.
TARGETS = {"minutes": 10, "format_compliance": 0.95, "union_iou": 0.6, "spatial_gain": 0.15, "all_lower_bound": -0.02}


def _families(m: dict) -> dict[str, dict]:
    return {k: v for k, v in m["by_question_family"].items() if k != "-"}


def _family_rows(rows: list[dict], family: str) -> list[dict]:
    return rows if family == "all" else [r for r in rows if r.get("question_family") == family]


def stage_table(before: dict, after: dict, times: dict, steps: int, warm: dict | None = None) -> dict[str, Any]:
    """Before/after per question family (and after the warm start, when given), each target met or not, and the
    gain of GRPO-GR's grounded accuracy over the base's direct accuracy per family, paired over the same questions
    with a 95 % interval (about +-0.08 to 0.12 with the 60-160 questions a family of the default 400: a gap inside
    it is not a measured change)."""
    families = sorted(set(_families(before["direct"]["metrics"])) | set(_families(after["grounded"]["metrics"])))
    table = {}
    for fam in families + ["all"]:
        pick = (lambda m: m["all"]) if fam == "all" else (lambda m, f=fam: _families(m).get(f, {}))
        table[fam] = {
            "base_direct_accuracy": pick(before["direct"]["metrics"]).get("accuracy"),
            "base_grounded_accuracy": pick(before["grounded"]["metrics"]).get("accuracy"),
            "base_grounded_format": pick(before["grounded"]["metrics"]).get("format_compliance"),
            **(
                {
                    "warm_grounded_accuracy": pick(warm["grounded"]["metrics"]).get("accuracy"),
                    "warm_grounded_format": pick(warm["grounded"]["metrics"]).get("format_compliance"),
                    "warm_grounded_union_iou": pick(warm["grounded"]["metrics"]).get("union_iou"),
                }
                if warm
                else {}
            ),
            "grit_grounded_accuracy": pick(after["grounded"]["metrics"]).get("accuracy"),
            "grit_grounded_format": pick(after["grounded"]["metrics"]).get("format_compliance"),
            "grit_grounded_union_iou": pick(after["grounded"]["metrics"]).get("union_iou"),
            "grit_direct_accuracy": pick(after["direct"]["metrics"]).get("accuracy"),
        }
    overall = after["grounded"]["metrics"]["all"]
    gains = {
        f: paired_gain(_family_rows(before["direct"]["rows"], f), _family_rows(after["grounded"]["rows"], f))
        for f in table
    }
    grpo_part, iou_change = {}, {}
    if warm:  # GRPO-GR's own part: after minus the warm start, same questions
        rows = warm["grounded"]["rows"], after["grounded"]["rows"]
        grpo_part = {f: paired_gain(*(_family_rows(r, f) for r in rows)) for f in table}
        iou_change = {f: paired_gain(*(_family_rows(r, f) for r in rows), key="union_iou") for f in table}
    targets = _targets(times, overall, gains, grpo_part, iou_change)
    return {
        "table": table,
        "gain_over_base_direct": gains,
        "gain_over_warm_start": grpo_part,
        "union_iou_change_over_warm_start": iou_change,
        "targets": targets,
        "seconds": times,
        "grpo_steps": steps,
    }


def _targets(times: dict, overall: dict, gains: dict, grpo_part: dict, iou_change: dict) -> dict[str, bool]:
    """Each target of the miniature, met or not (a gain's interval is its 95 % half-width; a gain of exactly 0 meets
    a ">= 0"; a figure that could not be measured meets nothing)."""

    def at_least(value: float | None, bar: float) -> bool:
        return value is not None and value >= bar

    def low(g: dict) -> float | None:
        return None if g.get("gain") is None else g["gain"] - (g["ci95"] or 0)

    def high(g: dict) -> float | None:
        return None if g.get("gain") is None else g["gain"] + (g["ci95"] or 0)

    spatial, every = gains.get("spatial", {}), gains.get("all", {})
    families = [g for f, g in gains.items() if f != "all"]
    iou = iou_change.get("all", {})
    return {
        f"minutes <= {TARGETS['minutes']}": times["total"] / 60 <= TARGETS["minutes"],
        f"spatial: gain over base direct >= +{TARGETS['spatial_gain']}, interval above 0": at_least(
            spatial.get("gain"), TARGETS["spatial_gain"]
        )
        and (low(spatial) or 0) > 0,
        f"all: gain >= 0, interval lower bound >= {TARGETS['all_lower_bound']}": at_least(every.get("gain"), 0)
        and at_least(low(every), TARGETS["all_lower_bound"]),
        "no family below base direct by more than its interval": all(at_least(high(g), 0) for g in families),
        "GRPO-GR >= warm start, all": at_least(grpo_part.get("all", {}).get("gain"), 0),
        f"format compliance >= {TARGETS['format_compliance']}": at_least(
            overall["format_compliance"], TARGETS["format_compliance"]
        ),
        f"grounding IoU >= {TARGETS['union_iou']}, not below the warm start beyond its interval": at_least(
            overall["union_iou"], TARGETS["union_iou"]
        )
        and (iou.get("gain") is None or at_least(high(iou), 0)),
    }
