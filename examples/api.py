"""grit's Python API in one file: parse a grounded chain, score it with GRIT's rewards as GRPO-GR would, print.

    python examples/api.py

The same reward functions and weights go to TRL unchanged:
``GRPOTrainer(..., reward_funcs=reward_funcs, args=GRPOConfig(..., reward_weights=reward_weights))``.
"""

from grit.boxes import FrameSpec
from grit.chain import parse, render
from grit.rewards import RewardSettings, build_rewards

# A completion as the model writes it: reasoning with a box (pixels of the 112 x 112 resized input), a rethink and
# the answer. render() writes one; any string the model produced works the same way.
completion_text = render(
    ["The red circle", ((20, 30, 60, 70), "red circle"), "is left of the square."], "Left.", "yes"
)

chain = parse(completion_text)  # segments, boxes (+ labels, segment, well-formedness), answer
print(f"answer {chain.answer_text!r}, complete chain {chain.strict}, boxes {[b.coords for b in chain.boxes]}")

reward_funcs, reward_weights = build_rewards("grit", RewardSettings(frame=FrameSpec("resized", max_pixels=112 * 112)))

# The dataset columns a reward reads, one value per completion (what grit's TRL dataset holds per sample).
columns = {
    "question": ["Is the red circle left of the square?"],
    "answer": ["yes"],
    "answer_type": ["yesno"],
    "width": [112],
    "height": [112],
    "evidence_boxes": [[[18, 28, 62, 72]]],
    "dataset": ["shapes"],
}
total = 0.0
for func, weight in zip(reward_funcs, reward_weights):
    value = func([completion_text], **columns)[0]  # None: the term does not apply to this completion
    total += weight * (value or 0.0)
    print(f"{func.__name__:<20} weight {weight:.2f}  reward {value}")
print(f"weighted total {total:.3f}")
