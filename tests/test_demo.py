"""grit demo without a browser: which boxes of a partial chain are complete, what the page shows for them, the
input checks, and streaming generation (same final text as batch generation; cut off at max new tokens)."""

import random

import numpy as np
import pytest
from PIL import Image

from grit.boxes import Frame
from grit.chain import parse
from grit.data.shapes import WorldConfig
from grit.data.shapes.questions import make_question
from grit.demo.ask import InputProblem, ask, check_question, generation_settings, open_upload
from grit.demo.examples import write_examples
from grit.demo.stream import box_keys, read_partial
from grit.demo.view import DISPLAY_MAX, DISPLAY_MIN, box_rows, chain_html, display_image, draw_partial, flags_html
from grit.pretrain.tasks import GROUNDING_TEMPLATE
from grit.prompts import PROMPT_KINDS

CHAINS = [
    '<think> The cat {"bbox_2d": [10, 20, 50, 60], "label": "cat"} and {"bbox_2d": [5, 6, 7, 8]} </think> '
    "<rethink> two </rethink> <answer> 2 </answer>",
    '<think> [{"bbox_2d": [10, 20, 50, 60], "label": "a", "bbox_2d": [1, 2, 3, 4], "label": "b"}] </think>',
    "<think> boxes [10, 20, 50, 60] and (1, 2, 3, 4), then 1. [5, 5, 9, 9] </think> <answer> 3 </answer>",
    "<think> <ref>cat</ref><box>[[10, 20, 50, 60], [1, 2, 3, 4]]</box> </think>",
    '<think> bad {"bbox_2d": [10, 20, 50]} then {"bbox_2d": [1.5, 2, 3, 4], "label": "c"} </think>',
    '{"label": "dog", "bbox_2d": [10, 20, 50, 60]}',
]
FRAME = Frame.original(100, 100)


@pytest.mark.parametrize("text", CHAINS)
def test_complete_boxes_of_every_prefix_lead_the_final_boxes(text):
    """Token by token, a box once complete never changes its coordinates or its number; new ones only follow."""
    final = [p.box.coords for p in read_partial(text, FRAME, finished=True).boxes]
    assert final == [b.coords for b in parse(text).boxes]
    seen = 0
    for end in range(len(text) + 1):
        partial = read_partial(text[:end], FRAME)
        coords = [p.box.coords for p in partial.boxes]
        assert coords == final[: len(coords)], text[:end]
        assert len(coords) >= seen
        seen = len(coords)
    assert seen == len(final)


@pytest.mark.parametrize("text", CHAINS)
def test_a_box_is_complete_the_moment_its_closing_bracket_is_written(text):
    counts = [len(read_partial(text[:end], FRAME).boxes) for end in range(len(text) + 1)]
    for end in range(1, len(text) + 1):
        if counts[end] > counts[end - 1]:
            assert counts[end] == counts[end - 1] + 1 and text[end - 1] in "])", text[:end]


def test_pending_box_is_the_unclosed_one_at_the_end():
    partial = read_partial('<think> {"bbox_2d": [1, 2, 30, 40], "label": "a"} then {"bbox_2d": [50, 6', FRAME)
    assert [p.box.coords for p in partial.boxes] == [(1.0, 2.0, 30.0, 40.0)]
    assert partial.pending is not None and partial.pending.coords == (50.0, 6.0)
    assert read_partial('<think> {"bbox_2d": ', FRAME).pending is not None
    closed_but_short = read_partial('<think> {"bbox_2d": [1, 2, 3]', FRAME)
    assert closed_but_short.pending is None and closed_but_short.boxes[0].problem == "malformed"
    finished = read_partial('<think> {"bbox_2d": [50, 6', FRAME, finished=True)
    assert finished.pending is None and finished.boxes[0].problem == "malformed"


def test_label_after_the_box_arrives_later():
    first = read_partial('{"bbox_2d": [1, 2, 30, 40], "label": "re', FRAME)
    later = read_partial('{"bbox_2d": [1, 2, 30, 40], "label": "red circle"}', FRAME)
    assert first.boxes[0].box.label is None and later.boxes[0].box.label == "red circle"
    assert box_keys(first) != box_keys(later)  # the page redraws to add the label


def test_box_rows_are_in_model_frame_and_original_pixels_with_problems():
    frame = Frame.resized(224, 224, 112, 112)  # the processor halved the image: boxes double in original pixels
    text = (
        '<think> {"bbox_2d": [10, 20, 50, 60], "label": "cat"} [0, 0, 112, 112] [30, 30, 30, 40] [100, 100, 130, 111]'
        " </think>"
    )
    rows = box_rows(read_partial(text, frame, finished=True))
    assert rows[0] == ["1", "think", "cat", "[10, 20, 50, 60]", "[20.0, 40.0, 100.0, 120.0]", "ok"]
    assert [r[5] for r in rows] == ["ok", "whole image", "degenerate", "out of image"]


def test_chain_html_sets_blocks_apart_numbers_boxes_and_escapes_model_text():
    text = '<think> a <script>x</script> {"bbox_2d": [1, 2, 30, 40]} </think> <rethink> r </rethink> <answer> [5, 6'
    page = chain_html(read_partial(text, FRAME), writing=True)
    assert "<script>" not in page and "&lt;script&gt;" in page
    for block in ("think", "rethink", "answer"):
        assert f"block-{block}" in page
    assert page.count("data-box=") == 1 and "data-box='1'" in page
    assert "box pending" not in page  # "[5, 6" is no box syntax yet: nothing pending
    page = chain_html(read_partial('<think> {"bbox_2d": [1, 2, 30, 40]}, {"bbox_2d": [5, 6', FRAME), writing=True)
    assert "box pending" in page and "cursor" in page
    page = chain_html(read_partial('<think> left \u202e right {"bbox_2d": [1, 2, 30, 40]} </think>', FRAME))
    assert "\u202e right </bdi>" in page  # the override ends with its own run: the box and its number keep order


def test_file_names_and_paths_show_as_typed_in_markdown():
    from grit.demo.app import plain

    assert plain("**bold** [l](x) _u_.png") == "\\*\\*bold\\*\\* \\[l\\]\\(x\\) \\_u\\_\\.png"


def test_flags_follow_the_chain_grammar():
    strict = read_partial(CHAINS[0], FRAME, finished=True)
    assert "strict chain" in flags_html(strict, FRAME) and "not a strict chain" not in flags_html(strict, FRAME)
    partial = read_partial("<think> looking", FRAME)
    page = flags_html(partial, FRAME)
    assert "&lt;think&gt; open" in page and "&lt;answer&gt; missing" in page and "not a strict chain" in page


def test_drawn_boxes_change_the_pixels_inside_the_box_outline_only():
    image = Image.new("RGB", (112, 112), (30, 30, 30))
    shown, scale = display_image(image)
    assert shown.size == (DISPLAY_MIN, DISPLAY_MIN) and scale == DISPLAY_MIN / 112
    empty = draw_partial(shown, scale, read_partial("<think>", Frame.original(112, 112)))
    assert np.array_equal(np.asarray(empty), np.asarray(shown))
    drawn = draw_partial(shown, scale, read_partial("<think> [56, 56, 100, 100]", Frame.original(112, 112)))
    diff = np.any(np.asarray(drawn) != np.asarray(shown), axis=2)
    ys, xs = np.nonzero(diff)
    assert xs.min() >= 56 * scale - 3 and ys.max() <= 100 * scale + 3  # the outline, its tag just above
    assert diff[int(78 * scale), int(56 * scale)] and not diff[int(78 * scale), int(78 * scale)]


def test_large_images_are_shown_small():
    shown, scale = display_image(Image.new("RGB", (4000, 3000)))
    assert max(shown.size) == DISPLAY_MAX and scale == DISPLAY_MAX / 4000


def test_bad_uploads_get_messages_naming_the_file(tmp_path):
    with pytest.raises(InputProblem, match="Upload an image"):
        open_upload(None)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(InputProblem, match="notes.png cannot be read") as e:
        open_upload(text)
    assert str(tmp_path) not in str(e.value)  # the server's path means nothing to the person
    huge = tmp_path / "huge.png"
    Image.new("1", (8001, 8000)).save(huge)  # 64.008 MP: over the cap, refused before decoding
    with pytest.raises(InputProblem, match="8001x8000, over the cap"):
        open_upload(huge)
    good = tmp_path / "ok.png"
    Image.new("RGB", (40, 30), (1, 2, 3)).save(good)
    assert open_upload(str(good)).size == (40, 30)
    photo = Image.new("RGB", (40, 30))
    exif = photo.getexif()
    exif[0x0112] = 8  # a phone held sideways: viewers turn it 90 degrees
    photo.save(tmp_path / "phone.jpg", exif=exif)
    assert open_upload(str(tmp_path / "phone.jpg")).size == (30, 40)  # as the person sees it


def test_question_and_settings_checks():
    with pytest.raises(InputProblem, match="Type a question"):
        check_question("   ")
    assert check_question("  How many?  ") == "How many?"
    with pytest.raises(InputProblem, match="Max new tokens"):
        generation_settings(0, 0.0)
    with pytest.raises(InputProblem, match="Temperature"):
        generation_settings(16, -1.0)
    greedy, sampled = generation_settings(16, 0.0), generation_settings(32, 0.7)
    assert (greedy.do_sample, greedy.max_new_tokens) == (False, 16)
    assert (sampled.do_sample, sampled.temperature) == (True, 0.7)


def test_examples_are_shapes_images_with_known_prompt_kinds(tmp_path):
    examples = write_examples(tmp_path)
    assert len(examples) == 5 and all(e.image.is_file() and e.kind in PROMPT_KINDS for e in examples)
    assert write_examples(tmp_path / "again")[0].question == examples[0].question  # seeded


def shapes_image():
    return make_question(random.Random(5), WorldConfig(min_objects=3), "counting", 2).scene.render()


@pytest.fixture(scope="module")
def base():
    from grit.models.loading import load_policy
    from grit.quickstart import shipped_base

    return load_policy(shipped_base())


def test_stream_ends_with_the_batch_generation_text(base):
    """The greedy stream and :func:`grit.models.generation.generate` agree, and the stream grows token by token."""
    from grit.models.generation import generate

    image = shapes_image()
    question = GROUNDING_TEMPLATE.format(what="shapes")
    settings = generation_settings(96, 0.0)
    answers = list(ask(base, image, question, "plain", settings))
    final = answers[-1]
    assert final.done and not final.cut_off and final.partial.finished
    assert final.partial.text == generate(base, [image], [question], "plain", settings)[0]
    assert len(final.partial.boxes) >= 1  # the base grounds shapes when asked to
    growing = [a.partial.text for a in answers[:-1]]
    assert len(growing) >= final.new_tokens - 1 and all(b.startswith(a) for a, b in zip(growing, growing[1:]))
    counts = [len(a.partial.boxes) for a in answers]
    assert counts == sorted(counts) and counts[0] == 0


def test_stream_says_when_it_was_cut_off(base):
    image = shapes_image()
    final = list(ask(base, image, GROUNDING_TEMPLATE.format(what="shapes"), "plain", generation_settings(6, 0.0)))[-1]
    assert final.cut_off and final.new_tokens == 6 and "Cut off" in final.status()


def test_demo_refuses_a_missing_model_folder_before_serving(tmp_path, capsys):
    from grit.cli import main

    missing = tmp_path / "no-such-model"
    assert main(["demo", "--model", str(missing), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert f"model folder {missing} does not exist" in err and "Traceback" not in err
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", "--model", str(tmp_path / "notes.txt")]) == 2
    assert "notes.txt is a file, not a folder" in capsys.readouterr().err
    assert main(["demo", "--model", str(missing), "--port", "99999"]) == 2  # was a traceback after loading the model
    assert "port: 99999 is above the maximum 65535" in capsys.readouterr().err


def test_demo_defaults_to_the_quickstart_model_when_there_is_one(tmp_path, monkeypatch):
    from grit.cli.demo import QUICKSTART_MODEL, default_model
    from grit.quickstart import shipped_base

    monkeypatch.chdir(tmp_path)
    assert default_model() == shipped_base()
    (tmp_path / QUICKSTART_MODEL).mkdir(parents=True)
    (tmp_path / QUICKSTART_MODEL / "config.json").write_text("{}")
    assert default_model() == QUICKSTART_MODEL


@pytest.mark.parametrize("family", ["qwen2_vl", "internvl"])  # two architectures other than the shipped one
def test_stream_matches_batch_generation_for_other_families(family, tmp_path):
    from grit.models.generation import generate
    from grit.models.loading import load_policy
    from grit.models.micro import save_micro

    policy = load_policy(save_micro(family, tmp_path / family))
    image, settings = Image.new("RGB", (300, 200), (30, 90, 200)), generation_settings(12, 0.0)
    final = list(ask(policy, image, "How many?", "grounded", settings))[-1]
    assert final.done and final.partial.text == generate(policy, [image], ["How many?"], "grounded", settings)[0]
    assert final.frame.kind == policy.frame.kind and (final.frame.width, final.frame.height) == (300, 200)


def test_ctrl_c_stops_the_demo_as_it_stops_every_command(tmp_path):
    """Gradio closes its server on Ctrl+C and returned normally (exit status 0, gradio's own line); the demo now
    reports the stop as every command does (exit status 130, one line) and still removes its folders."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    from grit.quickstart import shipped_base

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"), TMPDIR=str(tmp_path))
    env.pop("GRADIO_TEMP_DIR", None)
    command = [sys.executable, "-m", "grit", "demo", "--model", str(shipped_base()), "--port", str(port)]
    default = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731 - as a terminal's Ctrl+C finds it
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, preexec_fn=default
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with opener.open(f"http://127.0.0.1:{port}/", timeout=5):
                break
        except OSError:
            time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130 and "grit: stopped" in out and "Traceback" not in out, out[-2000:]
    assert list(tmp_path.glob("grit-demo-*")) == []
