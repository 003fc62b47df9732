"""Dense supervision of the vision tower: heads on the merged image tokens, the very vectors the language model
receives, so the tower and its merger learn to see before the language model learns to read them.

Per merged cell (28 x 28 px for Qwen2.5-VL), for the object whose box centre falls in the cell: objectness,
colour, shape, the box (normalised), and the box's four coordinates as classes scored against the language
model's own number-token embeddings through four learned maps. The last head makes "which number is this
coordinate" a linear read-out of the cell in the number embeddings' space, which the language model's attention
can then copy (the project's first prototypes found the language model's read-out, not the vision, is the
bottleneck).

Optionally (``word_embeddings``), colour and shape are also scored against the embeddings of the words the prompts
use (" red", " circle", " circles"): a base trained without it boxed objects precisely but often the wrong ones (it
could not match "yellow" in the query to the yellow cell), so the attributes get the same treatment as the
coordinates (recipes/shapes_base.yaml turns it on).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from grit.boxes import Frame
from grit.data.shapes import Scene


class DenseHeads(nn.Module):
    def __init__(self, hidden: int, n_colours: int, n_shapes: int):
        super().__init__()
        self.objectness = nn.Linear(hidden, 1)
        self.colour = nn.Linear(hidden, n_colours)
        self.shape = nn.Linear(hidden, n_shapes)
        self.box = nn.Linear(hidden, 4)
        self.coordinate_maps = nn.Linear(hidden, 4 * hidden)  # (x1, y1, x2, y2) read-outs into the token space
        self.word_maps = nn.Linear(hidden, 2 * hidden)  # (colour, shape) read-outs into the token space


def cell_targets(scenes: list[Scene], grid: int, cell: int, colours, shapes, frame: Frame):
    """Per-cell targets for a batch of scenes: (B*grid*grid,) tensors; cells without an object centre get -1
    classes. Coordinate classes are the box in the model's ``frame``, rounded to whole numbers."""
    n = len(scenes) * grid * grid
    obj = torch.zeros(n)
    colour = torch.full((n,), -1, dtype=torch.long)
    shape = torch.full((n,), -1, dtype=torch.long)
    box = torch.zeros(n, 4)
    coords = torch.full((n, 4), -1, dtype=torch.long)
    size = scenes[0].size
    for b, scene in enumerate(scenes):
        for o in scene.objects:
            cx, cy = o.centre
            i = b * grid * grid + min(int(cy // cell), grid - 1) * grid + min(int(cx // cell), grid - 1)
            obj[i] = 1.0
            colour[i], shape[i] = colours.index(o.colour), shapes.index(o.shape)
            box[i] = torch.tensor(o.box, dtype=torch.float32) / size
            coords[i] = torch.tensor([round(v) for v in frame.from_original(o.box)])
    return obj, colour, shape, box, coords


def dense_loss(
    heads: DenseHeads,
    features: torch.Tensor,
    targets,
    number_embeddings: torch.Tensor,
    word_embeddings: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Losses of the heads on merged features (N, H); ``number_embeddings`` (V, H) are rows of the language
    model's embedding for the numbers 0..V-1; ``word_embeddings`` maps ``colour`` to (C, H) rows of the colour
    words and ``shape`` / ``shapes`` to (S, H) rows of the singular and plural shape words, in the world's order."""
    obj, colour, shape, box, coords = targets
    losses = {"objectness": F.binary_cross_entropy_with_logits(heads.objectness(features).squeeze(-1), obj)}
    has = obj > 0
    if has.any():
        f = features[has]
        losses["colour"] = F.cross_entropy(heads.colour(f), colour[has])
        losses["shape"] = F.cross_entropy(heads.shape(f), shape[has])
        losses["box"] = 5.0 * F.l1_loss(torch.sigmoid(heads.box(f)), box[has])
        mapped = heads.coordinate_maps(f).view(f.shape[0], 4, -1)  # (n, 4, H)
        logits = mapped @ number_embeddings.T  # (n, 4, V)
        # (n * 4, V) against (n * 4,): each box coordinate is a class among the number tokens
        losses["coordinates"] = 0.5 * F.cross_entropy(logits.reshape(-1, logits.shape[-1]), coords[has].reshape(-1))
        if word_embeddings is not None:
            colour_map, shape_map = heads.word_maps(f).view(f.shape[0], 2, -1).unbind(1)  # 2 x (n, H)
            losses["words"] = (
                F.cross_entropy(colour_map @ word_embeddings["colour"].T, colour[has])
                + 0.5 * F.cross_entropy(shape_map @ word_embeddings["shape"].T, shape[has])
                + 0.5 * F.cross_entropy(shape_map @ word_embeddings["shapes"].T, shape[has])
            )
    return losses


@torch.no_grad()
def decode_boxes(heads: DenseHeads, features: torch.Tensor, size: int, threshold: float = 0.5) -> list:
    """Boxes (original pixels) of cells the objectness head fires on, for one image's (cells, H) features."""
    fire = torch.sigmoid(heads.objectness(features).squeeze(-1)) > threshold
    boxes = torch.sigmoid(heads.box(features[fire])) * size
    return [tuple(b.tolist()) for b in boxes]
