"""The warm start's chain layouts: every one is a strict chain the default rewards accept, the answer is the one
given, and each box stays inside ``<think>`` (``recheck`` writes them again in ``<rethink>``)."""

import re

import pytest

from grit.chain import parse
from grit.pretrain.tasks import grounding_asks
from grit.warmstart import LAYOUTS, chain_text

GROUPS = [("red circles", [((1, 2, 9, 9), "red circle"), ((20, 2, 29, 9), "red circle")]), ("blue squares", [])]


def _asked(seed: int, families, per_family: int):
    """The shipped base and ``per_family`` shapes-world questions of each family: (policy, images, questions)."""
    import random

    from grit.data.shapes import WorldConfig
    from grit.data.shapes.questions import make_question
    from grit.models.loading import load_policy
    from grit.quickstart import shipped_base

    rng = random.Random(seed)
    asked = [make_question(rng, WorldConfig(image_size=112), f, i) for i in range(per_family) for f in families]
    return load_policy(shipped_base()), [q.scene.render() for q in asked], [q.question for q in asked]


def _direct(policy, images, questions) -> list[str]:
    """The base's direct answers, first line, as the warm start reads them."""
    from grit.models.generation import GenerationSettings, generate

    settings = GenerationSettings(max_new_tokens=8, stop_at_answer=False)
    return [
        a.strip().split("\n")[0].strip() or "none" for a in generate(policy, images, questions, "direct", settings)
    ]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_is_a_strict_chain_with_its_boxes_in_think(layout):
    chain = parse(chain_text("yes", GROUPS, layout))
    assert chain.strict and chain.answer_text == "yes"
    again = 2 if layout == "recheck" else 1
    assert [b.coords for b in chain.boxes] == [(1, 2, 9, 9), (20, 2, 29, 9)] * again
    assert [b.segment for b in chain.boxes] == ["think", "think", "rethink", "rethink"][: 2 * again]


def test_named_layouts_say_which_group_they_found_nothing_for():
    text = chain_text("no", GROUPS, "named")
    assert "Let me find the red circles:" in text and "I find no blue squares." in text
    assert chain_text("no", GROUPS, "guess_first").startswith("<think> My first answer is no.")


def test_boxes_first_chains_put_every_box_before_the_answer():
    """The paper's order: each named group's boxes, then a rethink reading the answer off them; no answer (nor any
    answer-like statement) comes before the last box."""
    text = chain_text("2", GROUPS, "boxes_first")
    chain = parse(text)
    assert chain.strict and chain.answer_text == "2"
    last_box = max(b.end for b in chain.boxes)
    assert "2" not in chain.think.content.split('{"bbox_2d"')[0]  # nothing before the first box states it
    assert text.index("<rethink>") > last_box and text.index("<answer>") > last_box
    assert "answer" not in text[: text.index("</think>")]
    assert text.startswith("<think> Let me find the red circles:") and "I find no blue squares." in text


def test_reasoning_chains_hold_the_bases_reply_with_every_box_before_the_answer():
    """The base's reasoning reply inside the think: one JSON list per object group in the question's order (``none``
    for a group it found nothing for), then the answer read off them; nothing states an answer before the last box."""
    text = chain_text("2", GROUPS, "reasoning")
    chain = parse(text)
    assert chain.strict and chain.answer_text == "2"
    last_box = max(b.end for b in chain.boxes)
    assert text.index("answer: 2") > last_box and text.index("<rethink>") > last_box
    assert "2" not in text[: text.index('{"bbox_2d"')] and "answer" not in text[:last_box]
    assert chain.think.content.strip().startswith('[{"bbox_2d": [1, 2, 9, 9], "label": "red circle"}, {"bbox_2d"')
    assert chain.think.content.strip().endswith("] none answer: 2")


def test_recheck_chains_write_the_same_boxes_again_right_before_the_answer():
    """The quickstart's layout: the reasoning reply in the think (every box before its answer), then the rethink
    holds the same group lists again and nothing else, so the answer follows boxes directly."""
    text = chain_text("2", GROUPS, "recheck")
    chain = parse(text)
    think, rethink = chain.think.content.strip(), chain.rethink.content.strip()
    assert chain.strict and chain.answer_text == "2"
    assert think == chain_text("2", GROUPS, "reasoning").split("<think> ")[1].split(" </think>")[0]
    assert think == f"{rethink} answer: 2" and rethink.endswith("] none")
    last_box = max(b.end for b in chain.boxes)
    assert "answer" not in text[: text.index('{"bbox_2d"')] and text.index("<answer>") > last_box
    assert text[last_box:].split() == ["]", "none", "</rethink>", "<answer>", "2", "</answer>"]


def test_a_first_look_fills_the_think_and_the_rethink_corrects_it_before_the_answer():
    """``first_look``: the think is the reasoning reply over the first look's boxes with the answer read off them,
    the rethink holds the correcting boxes, and the answer (the correction's) comes after every box."""
    first = [("red circles", [((1, 2, 9, 9), "red circle")]), ("blue squares", [])]
    text = chain_text("2", GROUPS, "recheck", (first, "1"))
    chain = parse(text)
    assert chain.strict and chain.answer_text == "2"
    assert (
        chain.think.content.strip() == chain_text("1", first, "reasoning").split("<think> ")[1].split(" </think>")[0]
    )
    assert chain.rethink.content.strip() == parse(chain_text("2", GROUPS, "recheck")).rethink.content.strip()
    assert [len([b for b in chain.boxes if b.segment == s]) for s in ("think", "rethink")] == [1, 2]
    assert text.index("<answer>") > max(b.end for b in chain.boxes)
    with pytest.raises(ValueError, match="first look needs the recheck layout"):
        chain_text("2", GROUPS, "reasoning", (first, "1"))


def test_unknown_layout_is_refused_by_name():
    with pytest.raises(ValueError, match="guess_first"):
        chain_text("1", GROUPS, "answer_last")


@pytest.fixture(scope="module")
def shapes():
    import random

    from grit.data.shapes import QUESTION_FAMILIES, WorldConfig
    from grit.data.shapes.questions import make_question

    rng = random.Random(3)
    return [make_question(rng, WorldConfig(image_size=112), f, i) for i, f in enumerate(QUESTION_FAMILIES)]


def test_self_chains_are_the_base_models_own_boxes_and_answers(shapes):
    """Built from images and questions only: the boxes are those the base's grounding prompt gives for each object
    group the question names, the first and the final answer its direct answer."""
    from grit.models.generation import GenerationSettings, generate
    from grit.models.loading import load_policy
    from grit.pretrain.tasks import grounding_asks
    from grit.quickstart import shipped_base
    from grit.warmstart import self_chains

    policy = load_policy(shipped_base())
    images, questions = [q.scene.render() for q in shapes], [q.question for q in shapes]
    chains = self_chains(policy, images, questions, layout="guess_first", boxes_from="named")
    settings = GenerationSettings(max_new_tokens=100, stop_at_answer=False)
    direct = generate(policy, images, questions, "direct", GenerationSettings(max_new_tokens=8, stop_at_answer=False))
    for image, question, chain, answer in zip(images, questions, chains, direct):
        parsed = parse(chain.chain)
        assert parsed.strict and chain.question == question
        assert parsed.think.content.strip().startswith(f"My first answer is {answer.strip()}.")
        asked = grounding_asks(question)
        texts = generate(
            policy,
            [image] * len(asked),
            [prompt for _, prompt in asked],
            "plain",
            settings,
        )
        own = [b.coords for t in texts for b in parse(t).boxes if b.well_formed]
        assert [b.coords for b in parsed.boxes] == own
        assert parsed.answer_text == answer.strip()


def test_boxes_first_self_chains_answer_from_the_base_models_own_boxes(shapes):
    """The paper's order, label-free: the boxes are the base's own grounding, and the answer is what the base
    writes after those boxes are put at the start of its reply (its reasoning over them), never a gold answer."""
    from grit.models.generation import GenerationSettings, generate
    from grit.models.loading import load_policy
    from grit.quickstart import shipped_base
    from grit.warmstart import reasoning_reply_start, self_chains

    policy = load_policy(shipped_base())
    images, questions = [q.scene.render() for q in shapes], [q.question for q in shapes]
    chains = self_chains(policy, images, questions, layout="boxes_first")
    for image, question, chain in zip(images, questions, chains):
        parsed = parse(chain.chain)
        assert parsed.strict and parsed.think.content.strip().startswith(("Let me find", "I find no"))
        groups = [("", [b for b in parsed.boxes])]  # one list holds them all when the question names one group
        if len(grounding_asks(question)) == 1:
            start = reasoning_reply_start(groups)
            settings = GenerationSettings(max_new_tokens=8, stop_at_answer=False)
            own = generate(policy, [image], [question], "direct", settings, reply_starts=[start])[0]
            assert parsed.answer_text == (own.strip().split("\n")[0].strip() or "none")


def test_agreeing_chains_are_those_whose_read_off_answer_the_direct_answer_agrees_with():
    """The self-consistency filter compares two of the base's own answers (no label): a chain is kept exactly when
    the answer it reads off its boxes agrees with the base's direct answer."""
    from grit.answers import verify
    from grit.data.shapes import QUESTION_FAMILIES
    from grit.warmstart import self_chains

    policy, images, questions = _asked(8, QUESTION_FAMILIES, 3)
    every = self_chains(policy, images, questions, layout="reasoning")
    kept = self_chains(policy, images, questions, layout="reasoning", agree=True)
    direct = _direct(policy, images, questions)
    expected = [c.chain for c, d in zip(every, direct) if verify(parse(c.chain).answer_text, d, None, c.question)]
    assert [c.chain for c in kept] == expected and kept
    with pytest.raises(ValueError, match="agree and consistent need a layout that reads the answer off the boxes"):
        self_chains(policy, images[:1], questions[:1], layout="guess_first", agree=True)


def test_a_sure_filter_drops_only_the_disagreements_the_direct_answer_is_sure_of():
    """``sure``: a chain is dropped when the direct answer disagrees with it *and* the base gives that answer's first
    token at least that probability; the confidences are the model's own, the same at any batch size."""
    import torch

    from grit.answers import verify
    from grit.data.shapes import QUESTION_FAMILIES
    from grit.models.generation import first_token_confidence, prompt_texts
    from grit.warmstart import self_chains

    policy, images, questions = _asked(9, QUESTION_FAMILIES, 3)
    sure = first_token_confidence(policy, images, questions, "direct", batch_size=16)
    assert sure == pytest.approx(first_token_confidence(policy, images, questions, "direct", batch_size=1), abs=1e-5)
    text = prompt_texts(policy, questions[:1], "direct")[0]
    with torch.no_grad():
        logits = policy.model(**policy.processor(text=[text], images=images[:1], return_tensors="pt")).logits
    assert sure[0] == pytest.approx(logits[0, -1].softmax(-1).max().item(), abs=1e-5)
    assert all(0 < p <= 1 for p in sure)

    every = self_chains(policy, images, questions, layout="reasoning")
    direct = _direct(policy, images, questions)
    agrees = [verify(parse(c.chain).answer_text, d, None, c.question) for c, d in zip(every, direct)]
    threshold = sorted(sure)[len(sure) // 2]  # half the direct answers are at least this sure
    kept = self_chains(policy, images, questions, layout="reasoning", agree=True, sure=threshold)
    expected = [c.chain for c, a, p in zip(every, agrees, sure) if a or p < threshold]
    assert [c.chain for c in kept] == expected
    assert len(expected) > sum(agrees)  # some disagreeing chains were kept because the direct answer was unsure


def test_direct_answers_and_their_confidence_come_from_one_pass_with_the_same_numbers():
    """The warm start reads how sure each direct answer is off the pass that writes it: the same texts as
    :func:`generate`, and the same probabilities, to the bit, as :func:`first_token_confidence`'s own forward."""
    from grit.data.shapes import QUESTION_FAMILIES
    from grit.models.generation import GenerationSettings, first_token_confidence, generate, generate_with_confidence

    policy, images, questions = _asked(11, QUESTION_FAMILIES, 3)
    settings = GenerationSettings(max_new_tokens=8, batch_size=8, stop_at_answer=False)
    texts, sure = generate_with_confidence(policy, images, questions, "direct", settings)
    assert texts == generate(policy, images, questions, "direct", settings)
    assert sure == first_token_confidence(policy, images, questions, "direct", batch_size=8)


def test_quickstart_refuses_agreement_with_a_layout_that_states_the_direct_answer():
    from grit.config import ConfigError
    from grit.quickstart import QuickstartConfig

    with pytest.raises(ConfigError, match="warm_agree: the guess_first layout states the direct answer itself"):
        QuickstartConfig(warm_layout="guess_first", warm_agree=True)
    assert QuickstartConfig(warm_layout="reasoning", warm_agree=True).warm_agree


def test_the_quickstart_world_grows_until_its_train_split_holds_every_warm_starts_own_questions():
    from grit.data.shapes.world import DEFAULT_SPLITS, apportion
    from grit.quickstart import QuickstartConfig

    def train(cfg: QuickstartConfig) -> int:
        return apportion(cfg.n_data(), DEFAULT_SPLITS)["train"]

    assert QuickstartConfig().n_data() == 4000  # the defaults' world: 3200 train questions hold 3 x 1000
    assert QuickstartConfig(warm_soup=1).n_data() == 4000 and QuickstartConfig(n_eval=50, warm_soup=1).n_data() == 2000
    assert train(QuickstartConfig(warm_soup=4)) == 4000  # grown from 4000 questions to 5000
    assert train(QuickstartConfig(n_eval=50)) == 3000  # a small held-out split: the world still holds 3 x 1000
    assert train(QuickstartConfig(warm_soup=3, warm_examples=333, n_eval=10)) == 1600  # 999 fit the least world
    assert QuickstartConfig(warm_soup=4, warm_soup_data="shared").n_data() == 4000  # one set of chains, four orders
    assert QuickstartConfig(warm_soup=4, n_eval=1000).n_data() == 10000  # ten times the held-out questions


def test_retries_draw_the_boxes_of_dropped_chains_again_and_keep_only_agreeing_draws():
    """``retries``: the chains kept without retries are kept unchanged; each chain retries add was dropped before
    (its greedy read-off answer disagreed with a sure direct answer) and now reads off the direct answer from boxes
    the base drew itself. No label anywhere."""
    from grit.answers import verify
    from grit.warmstart import self_chains

    policy, images, questions = _asked(10, ["counting"], 40)
    once = self_chains(policy, images, questions, layout="recheck", agree=True, sure=0.7)
    again = self_chains(policy, images, questions, layout="recheck", agree=True, sure=0.7, retries=4, seed=1)
    direct = _direct(policy, images, questions)
    before = {id(c.image): c.chain for c in once}
    after = {id(c.image): c.chain for c in again}
    assert all(after.get(k) == chain for k, chain in before.items())  # nothing kept before changes or goes
    added = [i for i, image in enumerate(images) if id(image) in after and id(image) not in before]
    assert added, "four draws found no agreeing boxes for any dropped counting chain"
    for i in added:
        chain = parse(after[id(images[i])])
        assert chain.strict and verify(chain.answer_text, direct[i], None, questions[i])


def _boxes(labels: list[str]) -> list[tuple[str, list]]:
    text = ", ".join(f'{{"bbox_2d": [{i}, 1, {i + 9}, 9], "label": "{label}"}}' for i, label in enumerate(labels))
    return [("", parse(f"[{text}]").boxes if labels else [])]


@pytest.mark.parametrize(
    "question, labels, answer, consistent",
    [
        ("How many red circles are there?", ["red circle", "red circle"], "2", True),
        ("How many red circles are there?", ["red circle", "red circle"], "3", False),
        ("How many red circles are there?", [], "0", True),
        ("What colour is the circle?", ["yellow circle"], "yellow", True),
        ("What colour is the circle?", ["yellow circle"], "green", False),  # the label says yellow
        ("What colour is the circle?", [], "green", False),  # no box to read it off
        ("What colour is the circle?", ["red circle"], 'red, 80, 108], "label": "green circle', False),  # ran on
        ("What shape is the blue object?", ["blue square"], "square", True),
        ("What shape is the blue object?", ["blue square"], "blue", False),
        ("Is there a red circle?", ["red circle"], "yes", True),
        ("Is there a red circle?", [], "yes", False),
        ("Is the red circle left of the blue square?", ["red circle", "blue square"], "no", True),
        ("Is the red circle left of the blue square?", ["red circle", "blue square"], "yes]", False),
    ],
)
def test_a_read_off_answer_is_consistent_when_it_says_what_its_own_boxes_show(question, labels, answer, consistent):
    from grit.warmstart import read_consistent

    assert read_consistent(question, _boxes(labels), answer) is consistent


def test_consistent_chains_are_those_whose_answer_says_what_their_own_boxes_show():
    """``consistent``: of the chains built without it, exactly those whose read-off answer passes
    :func:`read_consistent` on the chain's own boxes are kept, unchanged; without retries nothing is drawn again."""
    from grit.config import ConfigError
    from grit.data.shapes import QUESTION_FAMILIES
    from grit.quickstart import QuickstartConfig
    from grit.warmstart import read_consistent, self_chains

    policy, images, questions = _asked(12, QUESTION_FAMILIES, 6)
    every = self_chains(policy, images, questions, layout="recheck")
    kept = self_chains(policy, images, questions, layout="recheck", consistent=True)

    def passes(chain) -> bool:
        parsed = parse(chain.chain)
        return read_consistent(chain.question, [("", parsed.boxes_in("rethink"))], parsed.answer_text)

    assert [c.chain for c in kept] == [c.chain for c in every if passes(c)]
    assert kept and len(kept) < len(every), "the base's 24 chains were all consistent or none was"
    with pytest.raises(ValueError, match="agree and consistent need a layout"):
        self_chains(policy, images[:1], questions[:1], layout="guess_first", consistent=True)
    with pytest.raises(ConfigError, match="warm_consistent: the guess_first layout does not read its answer"):
        QuickstartConfig(warm_consistent=True, warm_layout="guess_first", warm_agree=False)


def test_correcting_chains_keep_the_greedy_look_in_the_think_where_a_retry_agreed():
    """``correct``: the chains are those of ``retries`` alone; where a retry found the agreeing boxes, the think is
    the greedy look (its boxes and its reading, as a chain without the filter writes them) and the rethink and
    answer are the retry's; every other chain is unchanged. No label anywhere."""
    from grit.config import ConfigError
    from grit.quickstart import QuickstartConfig
    from grit.warmstart import self_chains

    policy, images, questions = _asked(10, ["counting"], 40)
    greedy = {id(c.image): parse(c.chain) for c in self_chains(policy, images, questions, layout="recheck")}
    kwargs = dict(layout="recheck", agree=True, sure=0.7, retries=4, seed=1)
    retried = self_chains(policy, images, questions, **kwargs)
    corrected = self_chains(policy, images, questions, correct=True, **kwargs)
    assert [id(c.image) for c in corrected] == [id(c.image) for c in retried]
    assert any(c.corrected for c in corrected) and not any(c.corrected for c in retried)
    for before, after in zip(retried, corrected):
        was, now = parse(before.chain), parse(after.chain)
        assert now.strict and now.rethink.content == was.rethink.content and now.answer_text == was.answer_text
        if after.corrected:
            assert now.think.content == greedy[id(after.image)].think.content != was.think.content
        else:
            assert after.chain == before.chain
    with pytest.raises(ValueError, match="correct needs the recheck layout"):
        self_chains(policy, images[:1], questions[:1], layout="reasoning", agree=True, correct=True)
    with pytest.raises(ConfigError, match="warm_correct: a correcting rethink needs"):
        QuickstartConfig(warm_correct=True, warm_retries=0)


def test_a_fallback_keeps_a_dropped_chain_with_its_boxes_and_the_sure_direct_answer():
    """``fallback``: a chain the filter would drop is kept, boxes unchanged, when the sure direct answer is one of
    the given words, and then answers that word (the base's own answer; no label); other dropped chains stay out."""
    from grit.answers import verify
    from grit.data.shapes import QUESTION_FAMILIES
    from grit.quickstart import FALLBACKS, QuickstartConfig
    from grit.warmstart import self_chains

    policy, images, questions = _asked(11, QUESTION_FAMILIES, 6)
    every = self_chains(policy, images, questions, layout="recheck")
    kept = self_chains(policy, images, questions, layout="recheck", agree=True)
    words = FALLBACKS["words"]
    fell_back = self_chains(policy, images, questions, layout="recheck", agree=True, fallback=words)
    direct = _direct(policy, images, questions)
    by_image = {id(c.image): c.chain for c in fell_back}
    assert all(by_image.get(id(c.image)) == c.chain for c in kept)  # every agreeing chain as it was
    added = [i for i, c in enumerate(every) if id(c.image) in by_image and c.chain != by_image[id(c.image)]]
    assert added, "no chain of 24 fell back to a direct word answer"
    for i in added:
        chain, before = parse(by_image[id(images[i])]), parse(every[i].chain)
        assert direct[i].lower() in words and chain.answer_text == direct[i]
        assert [b.coords for b in chain.boxes] == [b.coords for b in before.boxes]
    for i, c in enumerate(every):
        if id(c.image) not in by_image:
            agrees = verify(parse(c.chain).answer_text, direct[i], None, c.question)
            assert direct[i].lower() not in words and not agrees
    assert QuickstartConfig().warm_fallback == "none" and set(FALLBACKS) == {"none", "words"}


def test_listing_chains_take_each_groups_boxes_from_the_bases_own_listing_by_its_own_labels():
    """``boxes_from="listing"``: the base lists every shape once; each group the question names gets, in the
    question's order, the listed boxes whose own label fits it (a superlative's shape still comes from its own
    prompt), so the chain's boxes are the base's own, chosen by the base's own labels. No label of the data."""
    from grit.data.shapes import QUESTION_FAMILIES, extreme, referents
    from grit.models.generation import GenerationSettings, generate
    from grit.pretrain.tasks import LISTING_PROMPT
    from grit.warmstart import label_fits, self_chains

    policy, images, questions = _asked(11, QUESTION_FAMILIES, 4)
    listed = self_chains(policy, images, questions, layout="recheck")
    named = self_chains(policy, images, questions, layout="recheck", boxes_from="named")
    settings = GenerationSettings(max_new_tokens=256, stop_at_answer=False)
    listings = generate(policy, images, [LISTING_PROMPT] * len(images), "plain", settings)
    differs = 0
    for question, listing, chain, other in zip(questions, listings, listed, named):
        parsed = parse(chain.chain)
        think = [b for b in parsed.boxes if b.segment == "think"]
        assert parsed.strict and chain.question == question
        if extreme(question):
            assert chain.chain == other.chain
            continue
        own = [b for b in parse(listing).boxes if b.well_formed]
        expected = [b for group in referents(question) for b in own if label_fits(b.label, *group)]
        assert [(b.coords, b.label) for b in think] == [(b.coords, b.label) for b in expected]
        differs += chain.chain != other.chain
    assert differs, "the listing gave every chain the same boxes as the grounding prompts"
    with pytest.raises(ValueError, match="unknown box source 'gold'; use one of listing, named"):
        self_chains(policy, images[:1], questions[:1], boxes_from="gold")


@pytest.mark.parametrize(
    ("label", "group", "fits"),
    [
        ("red circle", ("red", "circle"), True),
        ("red circle", ("red", None), True),
        ("red circle", (None, "circle"), True),
        ("red circle", (None, None), True),
        ("blue circle", ("red", "circle"), False),
        ("red square", (None, "circle"), False),
        ("red", ("red", None), False),
        (None, (None, None), False),
        (" Red Circle ", ("red", "circle"), True),
    ],
)
def test_a_listed_box_fits_a_group_by_its_own_label(label, group, fits):
    from grit.warmstart import label_fits

    assert label_fits(label, *group) is fits


def test_listed_groups_keep_the_questions_order_and_each_groups_own_labels():
    """Groups in the question's order, not the listing's; a group nothing fits is empty (the chain writes ``none``);
    a box without a two-word label fits nothing; a superlative is refused (its shape comes from its own prompt)."""
    from grit.warmstart import listed_groups

    listing = parse(
        '[{"bbox_2d": [1, 1, 9, 9], "label": "red circle"}, {"bbox_2d": [20, 1, 29, 9], "label": "blue square"}, '
        '{"bbox_2d": [40, 1, 49, 9], "label": "red square"}, {"bbox_2d": [60, 1, 69, 9], "label": "square"}, '
        '{"bbox_2d": [80, 1, 89, 9]}]'
    ).boxes

    def coords(question):
        return [(what, [b.coords[0] for b in boxes]) for what, boxes in listed_groups(question, listing)]

    assert coords("Is the blue square left of the red circle?") == [("blue squares", [20]), ("red circles", [1])]
    assert coords("How many squares are there?") == [("squares", [20, 40])]
    assert coords("How many red shapes are there?") == [("red shapes", [1, 40])]
    assert coords("Is there a green triangle?") == [("green triangles", [])]
    assert listed_groups("How many circles are there?", []) == [("circles", [])]
    with pytest.raises(ValueError, match="superlative"):
        listed_groups("What colour is the leftmost shape?", listing)


@pytest.mark.parametrize("data", ["own", "pooled", "shared"])
def test_warm_starts_side_by_side_are_the_warm_starts_in_turn(tmp_path, capfd, data):
    """With more than one thread the quickstart runs each warm start (its chains, then its SFT steps; pooled, every
    set first, then every warm start on all of them) in a process of its own, on one thread: the souped weights are
    those of one process making the warm starts in turn on one thread, to the bit, and the same lines are logged (the
    retries' and the SFT's seeds follow each warm start's index in both). The workers draw no bars of their own: the
    parent's bar counts the sets, then the steps."""
    import torch

    from grit.data import load_samples
    from grit.data.shapes.world import write_shapes
    from grit.models.loading import load_policy
    from grit.progress import Stage
    from grit.quickstart import QuickstartConfig, shipped_base
    from grit.quickstart_warm import warm_starts

    write_shapes(tmp_path / "data", n=200, seed=4)
    samples = load_samples(tmp_path / "data" / "train.jsonl")
    cfg = QuickstartConfig(seed=4, warm_soup=2, warm_steps=3, warm_soup_data=data)
    parts = [samples[:16]] if data == "shared" else [samples[:16], samples[16:32]]
    start = load_policy(shipped_base()).model.state_dict()
    threads, logs, weights = torch.get_num_threads(), {}, {}
    try:
        for way, n in (("apart", 2), ("in turn", 1)):
            torch.set_num_threads(n)
            policy, logs[way] = load_policy(shipped_base()), []
            warm_starts(policy, shipped_base(), parts, cfg, Stage(3, 5, "warm start", data, logs[way].append))
            weights[way] = policy.model.state_dict()
            if way == "apart":
                drawn = capfd.readouterr().err
    finally:
        torch.set_num_threads(threads)
    moved = [k for k in start if not torch.equal(weights["in turn"][k], start[k])]
    assert moved and not any(k.startswith("model.visual.") for k in moved)  # the language model learned, the tower not
    assert all(torch.equal(weights["apart"][k], weights["in turn"][k]) for k in start)
    assert logs["apart"] == logs["in turn"]
    assert sum("chains kept" in line for line in logs["apart"]) == len(parts)
    assert "SFT, 2 processes side by side" in drawn
    kept = [int(re.search(r"(\d+) of \d+ chains kept", line)[1]) for line in logs["apart"] if "chains kept" in line]
    pooled = f"warm start 1 of 2 (seed 4, {sum(kept)} chains)"
    if data != "shared":  # shared: the parent builds the one set of chains, with its bars, before the workers start
        # pooled: each warm start on both sets' chains; own: on its own set's
        assert any(line.endswith(pooled) for line in logs["apart"]) == (data == "pooled")
        assert "own chains, 2 processes side by side" in drawn
        assert "own answers" not in drawn and "own boxes" not in drawn and "SFT: " not in drawn


def test_a_relay_sends_its_updates_until_its_parent_stops_it():
    import multiprocessing

    from grit.progress import Relay, Stopped

    context = multiprocessing.get_context("spawn")
    events, stop = context.Queue(), context.Event()
    relay = Relay(events, 2, stop)
    relay.start("SFT", 10, "step").update(3)
    relay.send("kept", 0)
    assert [events.get(timeout=5), events.get(timeout=5)] == [(2, "SFT", 3), (2, "kept", 0)]
    stop.set()
    with pytest.raises(Stopped):
        relay.start("SFT", 10, "step").update()


@pytest.mark.timeout(300)  # without the stop, the other worker would take its million steps first
@pytest.mark.parametrize("data", ["own", "pooled"])
def test_a_warm_start_that_keeps_no_chain_stops_the_others_and_says_why(tmp_path, data):
    """Side by side, a set of chains none of which agree stops the warm starts already training: the error names
    the set, and no one waits for the others' SFT steps (here far too many to finish). Pooled, no warm start
    begins."""
    import torch

    from grit.config import ConfigError
    from grit.data import load_samples
    from grit.data.shapes.world import write_shapes
    from grit.models.loading import load_policy
    from grit.progress import Stage
    from grit.quickstart import QuickstartConfig, shipped_base
    from grit.quickstart_warm import warm_starts

    write_shapes(tmp_path / "data", n=200, seed=4)
    samples = load_samples(tmp_path / "data" / "train.jsonl")
    cfg = QuickstartConfig(seed=4, warm_soup=2, warm_steps=10**6, warm_soup_data=data)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with pytest.raises(ConfigError, match="none of the 0 chains"):  # an empty set: it keeps none
            warm_starts(load_policy(shipped_base()), shipped_base(), [samples[:8], []], cfg, Stage(3, 5, "ws"))
    finally:
        torch.set_num_threads(threads)


def test_the_quickstart_builds_consistent_chains_when_asked_and_says_so(tmp_path):
    """``--warm_consistent true`` reaches the chains the quickstart builds (with its agreement filter and retries),
    and its log line names both checks."""
    from grit.data import load_samples
    from grit.data.images import load_image
    from grit.data.shapes.world import write_shapes
    from grit.models.loading import load_policy
    from grit.progress import Stage
    from grit.quickstart import QuickstartConfig, shipped_base
    from grit.quickstart_warm import _log_kept, _warm_chains
    from grit.warmstart import self_chains

    write_shapes(tmp_path / "data", n=200, seed=5)
    samples = load_samples(tmp_path / "data" / "train.jsonl")[:16]
    policy = load_policy(shipped_base())
    cfg = QuickstartConfig(seed=5, warm_consistent=True)
    built = _warm_chains(policy, samples, cfg, 0, None)
    images, questions = [load_image(s.image_path) for s in samples], [s.question for s in samples]
    kwargs = dict(layout="recheck", agree=True, sure=cfg.warm_agree_sure, retries=cfg.warm_retries, seed=5)
    assert [c.chain for c in built] == [
        c.chain for c in self_chains(policy, images, questions, consistent=True, **kwargs)
    ]
    logs = []
    _log_kept(len(built), 0, len(samples), cfg, Stage(3, 5, "warm start", log=logs.append))
    assert "says what their own boxes show and agrees with the direct one" in logs[-1]
