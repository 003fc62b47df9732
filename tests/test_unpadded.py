"""Scoring GRPO completions in length-sorted, unpadded chunks gives TRL's own log-probabilities, entropies and
gradients; the warm start's micro-batches give the one padded batch's losses."""

import random

import pytest
import torch
from trl import GRPOTrainer

from grit.grpo import build_trainer
from grit.models.unpadded import chunk_rows, splittable
from test_train import grit_args, grpo_config


def captured_step(setup, tmp_path, chunks):
    """A trainer with ``logprob_chunks=chunks`` and the loss inputs of its first step (real generation)."""
    trainer, _, _ = build_trainer(
        grit_args(setup, logprob_chunks=chunks),
        grpo_config(tmp_path, max_steps=1, per_device_train_batch_size=8, learning_rate=0.0, save_strategy="no"),
    )
    stash = []
    compute_loss = trainer._compute_loss

    def keep(model, inputs):
        stash.append(inputs)
        return compute_loss(model, inputs)

    trainer._compute_loss = keep
    trainer.train()
    return trainer, stash[0]


def scored(method, trainer, inputs, batch_size=None):
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    vision = {k: inputs.get(k) for k in ("pixel_values", "image_grid_thw", "num_images", "mm_token_type_ids")}
    trainer.model.zero_grad()
    logps, entropies, _ = method(
        trainer,
        trainer.model,
        ids,
        mask,
        inputs["completion_ids"].size(1),
        batch_size=batch_size,
        compute_entropy=True,
        **vision,
    )
    used = inputs["completion_mask"].bool()
    (logps * used).sum().backward()
    grads = [p.grad.clone() for p in trainer.model.parameters() if p.grad is not None]
    return logps[used], entropies[used], grads


def test_chunked_scores_equal_trls_own(warm_micro, tmp_path):
    trainer, inputs = captured_step(warm_micro, tmp_path, chunks=4)
    assert type(trainer).__name__ == "UnpaddedGRPOTrainer"
    lengths = inputs["completion_mask"].sum(dim=1)
    assert len(set(lengths.tolist())) > 1, "the completions must differ in length for the test to mean anything"
    vision = {k: inputs.get(k) for k in ("pixel_values", "image_grid_thw", "num_images", "mm_token_type_ids")}
    assert splittable(4, lengths.numel(), False, vision)
    ours = scored(type(trainer)._get_per_token_logps_and_entropies, trainer, inputs)
    trls = scored(GRPOTrainer._get_per_token_logps_and_entropies, trainer, inputs)
    torch.testing.assert_close(ours[0], trls[0], atol=1e-4, rtol=0)
    torch.testing.assert_close(ours[1], trls[1], atol=1e-4, rtol=0)
    assert len(ours[2]) == len(trls[2]) > 0
    for mine, theirs in zip(ours[2], trls[2]):
        torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=1e-3)
    # TRL's own memory cap (batch_size) still applies inside each chunk, images split with their rows
    capped = scored(type(trainer)._get_per_token_logps_and_entropies, trainer, inputs, batch_size=3)
    torch.testing.assert_close(capped[0], trls[0], atol=1e-4, rtol=0)


def test_one_chunk_is_trls_trainer_and_unknown_inputs_fall_back():
    from grit.models.unpadded import unpadded_trainer

    assert unpadded_trainer(1) is GRPOTrainer
    pixels = torch.zeros(4, 3)
    assert splittable(2, 8, False, {"pixel_values": pixels, "image_grid_thw": torch.ones(8, 3), "num_images": [1] * 8})
    assert not splittable(2, 8, False, {"pixel_values": pixels, "pixel_attention_mask": pixels})  # other families
    assert not splittable(2, 8, False, {"pixel_values": pixels})  # no grid: rows of images unknown
    assert not splittable(2, 8, True, {})  # MoE aux loss: TRL's own
    assert not splittable(4, 6, False, {})  # too few rows
    assert chunk_rows([3, 1, 2, 9, 4], 2) == [[1, 2, 0], [4, 3]]


@pytest.mark.parametrize("parts", [2, 4])
def test_warm_start_micro_batches_give_the_padded_batchs_losses(warm_micro, parts):
    from grit.data import load_samples
    from grit.data.images import load_image
    from grit.models.loading import load_policy
    from grit.warmstart import SelfChain, warm_start

    samples = load_samples(warm_micro / "data" / "train.jsonl")[:24]
    rng = random.Random(0)
    chains = [  # chains of very different lengths, so one padded batch is mostly padding
        SelfChain(load_image(s.image_path), s.question, "<think> " + "I look. " * rng.randint(1, 30) + "</think>")
        for s in samples
    ]
    losses = {}
    for n in (1, parts):
        policy = load_policy(warm_micro / "warm")
        losses[n] = warm_start(policy, chains, steps=3, lr=0.0, parts=n, log=lambda *_: None)
    assert losses[parts] == pytest.approx(losses[1], rel=1e-5)


def test_a_souped_warm_start_is_the_mean_of_its_warm_starts_from_one_start(warm_micro):
    from grit.data import load_samples
    from grit.data.images import load_image
    from grit.models.loading import load_policy
    from grit.warmstart import SelfChain, souped_warm_start, warm_start

    samples = load_samples(warm_micro / "data" / "train.jsonl")[:16]
    chains = [SelfChain(load_image(s.image_path), s.question, f"<think> {s.question} </think>") for s in samples]
    sets = [chains[:8], chains[8:]]
    quiet = {"steps": 2, "lr": 1e-3, "log": lambda *_: None}
    singles = []
    for i, part in enumerate(sets):  # each warm start alone, from the same start, with its own seed
        policy = load_policy(warm_micro / "warm")
        warm_start(policy, part, seed=5 + i, **quiet)
        singles.append(policy.model.state_dict())
    policy = load_policy(warm_micro / "warm")
    start = {k: v.clone() for k, v in policy.model.state_dict().items()}
    souped_warm_start(policy, sets, seed=5, **quiet)
    souped = policy.model.state_dict()
    moved = [k for k in souped if not torch.equal(singles[0][k], singles[1][k])]
    assert moved, "the two warm starts must differ for the test to mean anything"
    for k in moved:
        torch.testing.assert_close(souped[k], (singles[0][k] + singles[1][k]) / 2, atol=1e-6, rtol=1e-5)
        assert not torch.equal(souped[k], start[k])
    frozen = [k for k in souped if k.startswith("model.visual.")]
    assert frozen and all(torch.equal(souped[k], start[k]) for k in frozen)  # the tower stays the base's
