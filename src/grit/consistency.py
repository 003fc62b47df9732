"""Do the boxes and the text of a chain belong together?

Two measures:

**Offline label agreement** (data whose samples list their objects with labels, such as the shapes world).
For every well-formed box of an output:
1. its *name* is the box's own label (JSON ``label``, InternVL ``<ref>``, Qwen2-VL object ref); without one, the
   nearest *noun phrase* of the chain text: the maximal run of vocabulary words (the words of the sample's object
   labels plus the shapes world's colours and shapes; plural ``s`` dropped) closest to the box, within 80
   characters, preceding text winning ties;
2. the box *covers* the object whose box has the highest IoU with it, if that IoU is at least 0.5;
3. the box *agrees* when it covers an object and every word of its name appears in that object's label
   ("circle" agrees with a red circle, "blue circle" does not).
The measure is agreeing boxes / all well-formed boxes; boxes with no name count as not agreeing and are
reported as ``unnamed``.

**The paper's judge protocol** (section 4.3): draw the chain's boxes on one copy of the image and as many random
boxes on another, ask a judge which image matches the chain text with its coordinates removed, over three
repeats; report the mean and standard deviation of the share of correct picks, and failures separately.
"""

from __future__ import annotations

import random
import re
import statistics
from collections.abc import Sequence
from typing import Any

from grit.boxes import iou
from grit.chain import Chain
from grit.data.shapes import COLOURS, SHAPES

WINDOW = 80
BASE_VOCABULARY = frozenset(COLOURS) | frozenset(SHAPES)
JUDGE_PROMPT = (
    "Please decide which image has the bounding boxes that match the following description: {text}\n"
    'Reply with exactly "Image 0" or "Image 1".'
)


def _words(text: str) -> list[str]:
    return [w[:-1] if w.endswith("s") and len(w) > 3 else w for w in re.findall(r"[a-z]+", text.lower())]


def _phrases(text: str, vocabulary: set[str]) -> list[tuple[int, int, list[str]]]:
    """Maximal runs of vocabulary words: (start, end, words)."""
    runs, current = [], None
    for m in re.finditer(r"[A-Za-z]+", text):
        word = _words(m.group())[0] if _words(m.group()) else ""
        if word in vocabulary:
            if current and text[current[1] : m.start()].strip() == "":
                current = (current[0], m.end(), current[2] + [word])
            else:
                if current:
                    runs.append(current)
                current = (m.start(), m.end(), [word])
        elif current:
            runs.append(current)
            current = None
    if current:
        runs.append(current)
    return runs


def _nearest(runs, start: int, end: int) -> list[str] | None:
    best, best_key = None, None
    for s, e, words in runs:
        if e <= start:
            distance, side = start - e, 0
        elif s >= end:
            distance, side = s - end, 1
        else:
            continue
        if distance <= WINDOW and (best_key is None or (distance, side) < best_key):
            best, best_key = words, (distance, side)
    return best


def label_agreement(chain: Chain, placed: Sequence[Any], objects: Sequence[dict] | None) -> dict[str, int] | None:
    """Counts of ``boxes``, ``agree`` and ``unnamed`` for one output; None when the sample lists no objects."""
    if objects is None:
        return None
    vocabulary = set(BASE_VOCABULARY) | {w for o in objects for w in _words(o.get("label", ""))}
    runs = _phrases(chain.text, vocabulary)
    boxes = agree = unnamed = 0
    for p in placed:
        if p.original is None:
            continue
        boxes += 1
        name = _words(p.box.label) if p.box.label else _nearest(runs, p.box.start, p.box.end)
        if not name:
            unnamed += 1
            continue
        scored = [(iou(p.original, o["box"]), o) for o in objects]
        best_iou, covered = max(scored, key=lambda t: t[0], default=(0.0, None))
        if covered is not None and best_iou >= 0.5 and set(name) <= set(_words(covered.get("label", ""))):
            agree += 1
    return {"boxes": boxes, "agree": agree, "unnamed": unnamed}


def random_boxes(rng: random.Random, n: int, width: int, height: int) -> list[tuple[float, float, float, float]]:
    out = []
    for _ in range(n):
        w, h = rng.uniform(0.05, 0.5) * width, rng.uniform(0.05, 0.5) * height
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        out.append((x, y, x + w, y + h))
    return out


def parse_pick(reply: str) -> int | None:
    picks = set(re.findall(r"image\s*([01])", reply.lower()))
    return int(picks.pop()) if len(picks) == 1 else None


def judge_consistency(
    judge, items: Sequence[tuple[Any, str, Sequence[Sequence[float]]]], repeats: int = 3, seed: int = 0
) -> dict[str, Any]:
    """The paper's protocol over (PIL image, box-free chain text, boxes in original pixels) items with boxes."""
    from grit.judge import JudgeError
    from grit.render import draw_boxes, to_data_uri

    rng = random.Random(seed)
    scores, failures = [], 0
    usable = [it for it in items if it[2]]
    for _ in range(repeats):
        correct = answered = 0
        for image, text, boxes in usable:
            fake = random_boxes(rng, len(boxes), image.width, image.height)
            true_first = rng.random() < 0.5
            pair = (boxes, fake) if true_first else (fake, boxes)
            content = [{"type": "text", "text": JUDGE_PROMPT.format(text=text)}]
            for i, bs in enumerate(pair):
                content += [
                    {"type": "text", "text": f"Image {i}:"},
                    {"type": "image_url", "image_url": {"url": to_data_uri(draw_boxes(image, bs, numbered=False))}},
                ]
            try:
                pick = parse_pick(judge.chat([{"role": "user", "content": content}]))
            except JudgeError:
                pick = None
            if pick is None:
                failures += 1
                continue
            answered += 1
            correct += int(pick == (0 if true_first else 1))
        if answered:
            scores.append(correct / answered)
    return {
        "mean": statistics.fmean(scores) if scores else None,
        "std": statistics.pstdev(scores) if len(scores) > 1 else 0.0 if scores else None,
        "repeats": len(scores),
        "items": len(usable),
        "failures": failures,
    }
