"""Every validation error of the loader, each on a small broken file made here."""

import json
import logging

import pytest
from PIL import Image

from grit.data import DataError, load_samples, read_samples


@pytest.fixture
def root(tmp_path):
    Image.new("RGB", (64, 48), (30, 30, 30)).save(tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "sub" / "b.jpg")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


GOOD = {
    "question": "How many circles?",
    "answer": "2",
    "image": "a.png",
    "width": 64,
    "height": 48,
    "bboxs": [[1, 2, 10, 12], [20.5, 3, 30, 40]],
    "dataset": "tallyqa",
    "split": "train",
}


def write(root, *records, name="data.jsonl"):
    path = root / name
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_good_file(root):
    second = {k: v for k, v in GOOD.items() if k != "split"}
    path = write(
        root,
        GOOD,
        dict(second, image="sub/b.jpg", width=32, height=32, bboxs=[], answer="yes", key_words="x", id="s2"),
        "",
    )
    samples = load_samples(path)
    assert [s.id for s in samples] == ["1", "s2"]
    assert samples[0].evidence_boxes == ((1, 2, 10, 12), (20.5, 3, 30, 40))
    assert samples[0].answer_type == "count" and samples[1].answer_type == "yesno"
    assert samples[1].split == "x" and samples[0].dataset == "tallyqa"
    assert samples[0].image_path == (root / "a.png").resolve()
    assert samples[0].source.endswith("data.jsonl:1")


def test_sizes_read_from_file_and_plain_variants(root):
    path = write(
        root,
        {
            "id": 7,
            "question": "q",
            "answer": "tv",
            "image": str((root / "a.png").resolve()),
            "boxes": [[0, 0, 64, 48]],
            "extra_field": 1,
        },
    )
    s = load_samples(path)[0]
    assert (s.width, s.height, s.id, s.answer_type) == (64, 48, "7", "open")
    assert s.evidence_boxes == ((0, 0, 64, 48),) and s.extra == {"extra_field": 1}
    assert s.dataset == "data"  # the file's stem when no dataset is named


@pytest.mark.parametrize(
    "record, field, message",
    [
        ("{not json", None, "not valid JSON"),
        ("[1, 2]", None, "must be a JSON object"),
        ({k: v for k, v in GOOD.items() if k != "question"}, "question", "missing required field"),
        (dict(GOOD, question="  "), "question", "empty"),
        (dict(GOOD, answer=""), "answer", "empty"),
        (dict(GOOD, answer=None), "answer", "is null"),
        (dict(GOOD, answer=float("nan")), "answer", "is NaN, not text"),
        (
            dict(GOOD, question="What colour?", A="red", B="blue", answer="B"),
            "A",
            "not from fields of their own (A, B)",
        ),
        (
            dict(GOOD, choice_a="red", choice_b="blue", answer="A"),
            "choice_a",
            "fields of their own (choice_a, choice_b)",
        ),
        (
            dict(GOOD, question="What colour?\nA. red\nB. blue", answer="purple", answer_type="choice"),
            "answer",
            "'purple' is none of the question's options (A, B)",
        ),
        (dict(GOOD, question=7), "question", "is the number 7, not a question"),
        (dict(GOOD, image=None), "image", "must be a path, got None"),
        ({k: v for k, v in GOOD.items() if k != "image"}, "image", "missing required field"),
        (dict(GOOD, image="missing.png"), "image", "does not exist"),
        (dict(GOOD, image="corrupt.png"), "image", "cannot be read"),
        (dict(GOOD, image="notes.txt"), "image", "cannot be read"),
        (dict(GOOD, image="../../etc/passwd"), "image", "outside the image root"),
        (dict(GOOD, width=100), "width", "disagrees with the file"),
        (dict(GOOD, height=-3), "height", "positive whole number"),
        (dict(GOOD, bboxs=[[10, 2, 5, 12]]), "bboxs", "x2 <= x1"),
        (dict(GOOD, bboxs=[[1, 2, 3]]), "bboxs", "not four numbers"),
        (dict(GOOD, bboxs=[[1, 2, 300, 12]]), "bboxs", "outside the 64x48 image"),
        (dict(GOOD, bboxs="1,2,3,4"), "bboxs", "must be a list"),
        (dict(GOOD, answer_type="essay"), "answer_type", "unknown answer type"),
        (dict(GOOD, id={"a": 1}), "id", "is {'a': 1}, not text or a whole number"),
        (dict(GOOD, id=["x"]), "id", "not text or a whole number"),
        (dict(GOOD, id=" "), "id", "is empty"),
        (dict(GOOD, options=["red", "blue"], answer="A"), "options", "not from fields of their own (options)"),
        (dict(GOOD, answer_type="choice", answer="A"), "answer_type", "the question lists no options grit can read"),
    ],
)
def test_each_problem_names_file_line_field(root, record, field, message):
    path = write(root, GOOD, record)
    with pytest.raises(DataError) as info:
        load_samples(path)
    problem = info.value.problems[0]
    assert problem.line == 2 and problem.field == field and message in problem.message
    text = str(info.value)
    assert f"{path}:2" in text and "Fix:" in text


def test_duplicate_ids(root):
    with pytest.raises(DataError, match="duplicate id 'x' \\(first on line 1\\)"):
        load_samples(write(root, dict(GOOD, id="x"), dict(GOOD, id="x")))


def test_decompression_bomb_cap(root):
    Image.new("L", (400, 300)).save(root / "big.png")
    with pytest.raises(DataError, match="over the cap"):
        load_samples(write(root, dict(GOOD, image="big.png", width=400, height=300)), max_image_pixels=100_000)


def test_without_images_sizes_are_required(root):
    path = write(root, {k: v for k, v in GOOD.items() if k != "width"})
    with pytest.raises(DataError, match="width and height are needed"):
        read_samples(path, check_images=False)
    assert read_samples(write(root, dict(GOOD, image="elsewhere.png")), check_images=False).samples


def test_skip_invalid_reports_every_skip(root, caplog):
    path = write(root, GOOD, "{bad", dict(GOOD, answer=""), dict(GOOD, id="z"))
    result = read_samples(path, skip_invalid=True)
    assert len(result.samples) == 2 and result.skipped_lines == [2, 3]
    assert "skipped 2 invalid lines" in result.summary()
    with caplog.at_level(logging.WARNING):
        assert len(load_samples(path, skip_invalid=True)) == 2
    assert "skipped 2 invalid lines" in caplog.text and "data.jsonl:3: field 'answer'" in caplog.text


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_samples(tmp_path / "nope.jsonl")


@pytest.fixture
def odd(root):
    """Images a real data set may hold, made here: cut short, links gone wrong, empty, extreme shapes."""
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG")
    (root / "cut.jpg").write_bytes(buffer.getvalue()[:-40])  # header fine, the last of its data cut
    (root / "empty.png").write_bytes(b"")
    (root / "gone.png").symlink_to("nowhere.png")
    (root / "loop1.png").symlink_to("loop2.png")
    (root / "loop2.png").symlink_to("loop1.png")
    Image.new("RGB", (2000, 5)).save(root / "thin.png")
    return root


@pytest.mark.parametrize(
    "image, width, height, message",
    [
        ("cut.jpg", 64, 48, "cannot be read (OSError: "),
        ("empty.png", 64, 48, "is empty (0 bytes)"),
        ("gone.png", 64, 48, "image 'gone.png' is a symbolic link to nowhere.png, which does not exist"),
        ("loop1.png", 64, 48, "image 'loop1.png' is a symbolic link that leads back to itself"),
        ("thin.png", 2000, 5, "is 2000x5, one side over 200 times the other"),
    ],
)
def test_damaged_or_unusable_images_are_found_by_the_check(odd, image, width, height, message):
    """Found when the data is read (a JPEG cut short used to pass and fail halfway through an evaluation), and
    skipped with --skip_invalid."""
    path = write(odd, GOOD, dict(GOOD, image=image, width=width, height=height, bboxs=[]))
    with pytest.raises(DataError) as info:
        load_samples(path)
    problem = info.value.problems[0]
    assert problem.line == 2 and problem.field == "image" and message in problem.message
    assert [s.image for s in load_samples(path, skip_invalid=True)] == ["a.png"]


def test_images_are_read_as_a_viewer_shows_them(tmp_path):
    """16-bit grey is scaled down (converted directly it clipped to white), 0-1 floats scaled up, transparency laid
    on white, a phone's JPEG (MPO) read; floats with no 8-bit reading are refused."""
    import numpy as np

    from grit.data.images import ImageProblem, load_image

    ramp = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    grey = np.asarray(load_image(tmp_path / "grey16.png"))
    assert grey.shape == (48, 64, 3) and grey.min() == 0 and grey.max() == 255 and 120 < grey.mean() < 135
    Image.fromarray(np.full((48, 64), 0.5, dtype=np.float32), "F").save(tmp_path / "half.tiff")
    assert np.asarray(load_image(tmp_path / "half.tiff")).mean() == 128
    Image.fromarray(np.full((48, 64), 1e6, dtype=np.float32), "F").save(tmp_path / "depth.tiff")
    with pytest.raises(ImageProblem, match="holds F values from 1e\\+06 to 1e\\+06, which have no 8-bit reading"):
        load_image(tmp_path / "depth.tiff")
    Image.new("RGBA", (64, 48), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert np.asarray(load_image(tmp_path / "clear.png")).min() == 255  # white, not black
    first, second = Image.new("RGB", (64, 48), (10, 200, 10)), Image.new("RGB", (32, 24))
    first.save(tmp_path / "phone.jpg", "MPO", save_all=True, append_images=[second])
    assert Image.open(tmp_path / "phone.jpg").format == "MPO"
    assert load_image(tmp_path / "phone.jpg").size == (64, 48)
    Image.new("L", (64, 48), 0).save(tmp_path / "keyed.png", transparency=0)  # a grey PNG whose black is clear
    assert np.asarray(load_image(tmp_path / "keyed.png")).min() == 255
    nan = np.full((48, 64), 0.5, dtype=np.float32)
    nan[0, 0] = np.nan
    Image.fromarray(nan, "F").save(tmp_path / "nan.tiff")
    with pytest.raises(ImageProblem, match="values from nan to nan"):
        load_image(tmp_path / "nan.tiff")


@pytest.mark.filterwarnings("ignore:Metadata Warning")  # PIL's, about the damaged tag this test writes
def test_damaged_exif_is_named_not_a_traceback(root):
    """Turning a photo upright rewrites its EXIF; a damaged tag made that raise (AttributeError, TypeError,
    struct.error). Training's ``datasets`` decoding fails on it too, so the check refuses it."""
    photo = Image.new("RGB", (32, 24))
    exif = photo.getexif()
    exif[271], exif[272], exif[0x0112], exif[305] = "Maker", "Model", 6, "sw"
    exif.get_ifd(0x8769)[0x9003] = "2020:01:01 00:00:00"
    raw = exif.tobytes()
    at = raw.index(b"\x01\x0f\x00\x02")  # the Make tag, written as text (type 2)
    photo.save(root / "damaged.jpg", exif=raw[:at] + b"\x01\x0f\x00\x0a" + raw[at + 4 :])  # said to be fractions
    with pytest.raises(DataError) as info:
        load_samples(write(root, dict(GOOD, image="damaged.jpg", width=24, height=32, bboxs=[])))
    problem = info.value.problems[0]
    assert "has damaged EXIF data (AttributeError" in problem.message and "without its EXIF" in problem.fix


def test_an_exif_turned_photo_is_read_upright_and_its_stored_size_named(root):
    """Read as viewers show it and as ``datasets`` decodes it for training, so that boxes mean the same pixels in
    training and evaluation; a declared size that is the stored one names the EXIF tag."""
    from grit.data.images import check_image, load_image

    photo = Image.new("RGB", (64, 48), (30, 30, 30))
    exif = photo.getexif()
    exif[0x0112] = 6  # turned 90 degrees
    photo.save(root / "turned.jpg", exif=exif)
    assert load_image(root / "turned.jpg").size == check_image(root / "turned.jpg") == (48, 64)
    with pytest.raises(DataError) as info:
        load_samples(write(root, dict(GOOD, image="turned.jpg", width=64, height=48, bboxs=[])))
    problem = info.value.problems[0]
    assert "64x48 is the file's stored size, but its EXIF orientation turns it to 48x64" in problem.message
    assert "give width 48 and height 64" in problem.fix and "exif_transpose" in problem.fix
    assert load_samples(write(root, dict(GOOD, image="turned.jpg", width=48, height=64, bboxs=[])))
    from grit.data.trl import to_trl_dataset

    (sample,) = load_samples(write(root, dict(GOOD, image="turned.jpg", width=48, height=64, bboxs=[])))
    assert to_trl_dataset([sample])[0]["image"].size == load_image(sample.image_path).size  # training's pixels


def test_a_windows_path_is_named_with_its_fix(root):
    with pytest.raises(DataError) as info:
        load_samples(write(root, dict(GOOD, image="sub\\b.jpg", width=32, height=32, bboxs=[])))
    assert "write the path with / between folders" in info.value.problems[0].fix


def test_training_reads_16_bit_grey_as_evaluation_does(root):
    """``datasets`` decoded 16-bit grey for training as it is, and the processor then clipped it to white."""
    import numpy as np

    from grit.data.images import load_image
    from grit.data.trl import to_trl_dataset

    Image.fromarray((np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16)).save(root / "deep.png")
    (sample,) = load_samples(write(root, dict(GOOD, image="deep.png", bboxs=[])))
    pixels = np.asarray(to_trl_dataset([sample])[0]["image"])
    assert np.array_equal(pixels, np.asarray(load_image(sample.image_path)))
    assert 0 < pixels.max() < 255  # scaled, not clipped


@pytest.mark.parametrize("field", ["id", "dataset", "family", "image", "objects"])
def test_half_a_character_in_any_field_is_named_before_any_work(root, field):
    """Only the question and answer were checked: a lone surrogate elsewhere failed every output's write, after the
    whole evaluation."""
    value = {"image": "a\ud800.png", "objects": [{"label": "red \ud800"}]}.get(field, "x\ud800")
    with pytest.raises(DataError) as info:
        load_samples(write(root, GOOD, dict(GOOD, **{field: value})))
    problem = info.value.problems[0]
    assert problem.line == 2 and problem.field == field and "half of a character" in problem.message


def test_options_in_a_field_beside_a_question_that_lists_them_are_fine(root):
    """MathVista-style records carry both; the question's own options are what the prompt and the checker read."""
    record = dict(GOOD, question="Which colour? Choices: (A) red (B) blue", answer="A", choices=["red", "blue"])
    (sample,) = load_samples(write(root, record))
    assert sample.answer_type == "choice" and sample.extra["choices"] == ["red", "blue"]


def test_a_data_files_missing_image_points_at_the_image_folder(root):
    with pytest.raises(DataError) as info:
        load_samples(write(root, dict(GOOD, image="missing.png")))
    assert "does not exist. Fix: check the image folder (--images) and the path" in str(info.value)
