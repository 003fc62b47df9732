"""GRPO's log-probability passes without most of their padding (a measured speed-up of TRL's GRPOTrainer).

TRL scores a step's completions (the policy's forward for the loss, the reference model's forward for the KL term)
as one batch padded to the longest completion: with the quickstart's chains (70 tokens on average, the longest
over 160) a third of the tokens those passes process are padding. :func:`unpadded_trainer` returns a subclass of
``GRPOTrainer`` that sorts the rows by length, scores them in ``chunks`` groups, each cut to its own longest row,
and puts the results back in place: the same log-probabilities (to float rounding), fewer tokens. It applies to
batches whose vision inputs it knows how to split (none, or ``pixel_values`` with ``image_grid_thw``: the Qwen
families); any other batch goes to TRL's own method unchanged. Measured by ``bench/bench_train.py``.
"""

from __future__ import annotations

from typing import Any

SPLITTABLE = {"pixel_values", "image_grid_thw", "num_images", "mm_token_type_ids", "token_type_ids"}


def chunk_rows(lengths: list[int], chunks: int) -> list[list[int]]:
    """Row indices sorted by length, cut into ``chunks`` near-equal groups (shortest first).

    >>> chunk_rows([5, 1, 9, 3], 2)
    [[1, 3], [0, 2]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    size, extra = divmod(len(order), chunks)
    groups, start = [], 0
    for c in range(chunks):
        end = start + size + (1 if c < extra else 0)
        if end > start:
            groups.append(order[start:end])
        start = end
    return groups


def splittable(chunks: int, rows: int, compute_aux_loss: bool, vision: dict[str, Any]) -> bool:
    """Whether this batch can be scored in chunks: enough rows, no MoE loss, and vision inputs this module splits
    (none, or ``pixel_values`` with ``image_grid_thw`` and ``num_images``)."""
    present = {k for k, v in vision.items() if v is not None}
    images = {"pixel_values", "image_grid_thw", "num_images"} & present
    return (
        chunks > 1 and rows >= 2 * chunks and not compute_aux_loss and present <= SPLITTABLE and len(images) in (0, 3)
    )


def select_vision(vision: dict[str, Any], rows: list[int], lo: int, hi: int) -> dict[str, Any]:
    """The vision inputs of ``rows`` (in that order), token-aligned ones cut to columns ``lo:hi``."""
    import torch

    picked: dict[str, Any] = {}
    index = torch.tensor(rows)
    for key in ("mm_token_type_ids", "token_type_ids"):
        if vision.get(key) is not None:
            picked[key] = vision[key][index][:, lo:hi]
    if vision.get("pixel_values") is not None:
        grid, counts = vision["image_grid_thw"], list(vision["num_images"])
        first_image = [sum(counts[:i]) for i in range(len(counts) + 1)]
        patches = grid.prod(dim=-1).tolist()
        first_patch = [0]
        for n in patches:
            first_patch.append(first_patch[-1] + n)
        pixel_blocks, grid_rows = [], []
        for r in rows:
            a, b = first_image[r], first_image[r + 1]
            pixel_blocks.append(vision["pixel_values"][first_patch[a] : first_patch[b]])
            grid_rows.extend(range(a, b))
        picked["pixel_values"] = torch.cat(pixel_blocks)
        picked["image_grid_thw"] = grid[torch.tensor(grid_rows, dtype=torch.long)]
        picked["num_images"] = [counts[r] for r in rows]
    return picked


def unpadded_trainer(chunks: int = 2):
    """A ``GRPOTrainer`` subclass whose log-probability passes run in ``chunks`` length-sorted, unpadded groups
    (1: TRL's own method)."""
    import torch
    from trl import GRPOTrainer

    class UnpaddedGRPOTrainer(GRPOTrainer):
        def _get_per_token_logps_and_entropies(
            self,
            model,
            input_ids,
            attention_mask,
            logits_to_keep,
            batch_size=None,
            compute_entropy=False,
            compute_aux_loss=False,
            **vision,
        ):
            if not splittable(chunks, input_ids.size(0), compute_aux_loss, vision):
                return super()._get_per_token_logps_and_entropies(
                    model,
                    input_ids,
                    attention_mask,
                    logits_to_keep,
                    batch_size=batch_size,
                    compute_entropy=compute_entropy,
                    compute_aux_loss=compute_aux_loss,
                    **vision,
                )
            rows, width = input_ids.shape
            start = width - logits_to_keep  # the first completion column
            logps = entropies = None
            for group in chunk_rows(attention_mask.sum(dim=1).tolist(), chunks):
                index = torch.tensor(group, device=input_ids.device)
                mask = attention_mask[index]
                used = mask.any(dim=0).nonzero().flatten()
                lo = int(used[0]) if len(used) else 0
                hi = max(int(used[-1]) + 1 if len(used) else width, start + 1)
                lo = min(lo, start)
                keep = hi - start
                part_logps, part_entropies, _ = super()._get_per_token_logps_and_entropies(
                    model,
                    input_ids[index][:, lo:hi],
                    mask[:, lo:hi],
                    keep,
                    batch_size=batch_size,  # TRL's own memory cap, applied within the chunk
                    compute_entropy=compute_entropy,
                    **select_vision(vision, group, lo, hi),
                )
                if logps is None:
                    logps = part_logps.new_zeros((rows, logits_to_keep))
                    entropies = part_logps.new_zeros((rows, logits_to_keep)) if compute_entropy else None
                logps[index, :keep] = part_logps
                if compute_entropy:
                    entropies[index, :keep] = part_entropies
            return logps, entropies, None

    UnpaddedGRPOTrainer.__name__ = UnpaddedGRPOTrainer.__qualname__ = "UnpaddedGRPOTrainer"
    return UnpaddedGRPOTrainer if chunks > 1 else GRPOTrainer
