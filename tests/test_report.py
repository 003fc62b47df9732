"""HTML pages and provenance: every page is one well-formed document in the same shell (style and header), whatever
text the model wrote; links are relative; the provenance record names the code, seed, libraries and machine."""

from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from grit.boxes import FrameSpec
from grit.chain import render
from grit.data import load_samples
from grit.data.shapes.world import write_shapes
from grit.evaluate import EvalResult, EvalSettings, _rows, summarize
from grit.provenance import git_commit, provenance, provenance_line
from grit.report import STYLE, eval_report, links, page, rollout_page

VOID = {"meta", "img", "br", "hr", "link", "input"}


class Structure(HTMLParser):
    """Checks nesting as it parses; records tags, the style text, the header and every link."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.problems, self.counts, self.hrefs = [], [], {}, []
        self.doctype, self.style, self.header = None, "", ""

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        attrs = dict(attrs)
        if tag == "a":
            self.hrefs.append(attrs["href"])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if "style" in self.stack:
            self.style += data
        elif "header" in self.stack:
            self.header += data


def check_page(text: str) -> Structure:
    """Assert ``text`` is one well-formed grit page; return what was parsed."""
    parsed = Structure()
    parsed.feed(text)
    parsed.close()
    assert parsed.doctype and parsed.doctype.lower() == "doctype html"
    assert text.count("<!DOCTYPE") == 1 and text.rstrip().endswith("</html>")
    assert not parsed.problems, parsed.problems[:5]
    assert not parsed.stack, f"unclosed: {parsed.stack}"
    for tag in ("html", "head", "body", "title", "style", "header", "h1"):
        assert parsed.counts.get(tag) == 1, (tag, parsed.counts.get(tag))
    assert parsed.style == STYLE and parsed.header.startswith("grit · ")
    return parsed


def check_links(parsed: Structure, folder: Path) -> list[Path]:
    targets = [folder / href for href in parsed.hrefs]
    assert all(not Path(h).is_absolute() and "://" not in h for h in parsed.hrefs), parsed.hrefs
    missing = [str(t) for t in targets if not t.is_file()]
    assert not missing, missing
    return targets


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    write_shapes(root, n=40, seed=0)
    return load_samples(root / "test.jsonl")


def eval_result(samples):
    """Rows as ``grit eval`` makes them, for outputs with a box and awkward text (markup, quotes, ampersands)."""
    texts = [
        render(["I look at <b>this</b> & 'that'", (tuple(s.evidence_boxes[0]), "shape")], "so </div>", "2")
        if s.evidence_boxes
        else "no chain at all </html>"
        for s in samples
    ]
    rows = _rows(SimpleNamespace(frame=FrameSpec("original")), samples, texts, EvalSettings())
    rows = [{"data": "test", **r} for r in rows]
    return EvalResult({"test": rows}, {"test": summarize(rows), "overall": summarize(rows)})


def test_eval_report_is_one_well_formed_page(samples):
    text = eval_report(eval_result(samples), {"model": "m<1>", "prompt": "grounded"}, provenance(seed=3))
    parsed = check_page(text)
    assert parsed.header == "grit · evaluation"
    assert parsed.counts["img"] == 12  # best, worst and random: 4 cards each
    assert "&lt;/html&gt;" in text or "&lt;b&gt;" in text  # model text is escaped, never markup
    assert "seed 3" in text and "commit " in text


def test_data_and_model_text_cannot_reorder_or_widen_the_page(samples):
    """A right-to-left override in a gold answer stays inside its own isolate (it reversed the rest of the card's
    line), and long words may break (a 300-character id widened the page to 8000 px)."""
    result = eval_result(samples)
    for row in result.rows["test"]:
        row["answer"], row["id"] = "yes\u202e", "x" * 300
    text = eval_report(result, {"model": "m\u202e"})
    check_page(text)
    assert "\u202e" in text and text.count("\u202e</bdi>") == text.count("\u202e")
    assert "overflow-wrap:anywhere" in STYLE and ".card,td,.meta,h2,h3{overflow-wrap:anywhere}" in STYLE


def test_rollout_page_is_one_well_formed_page(samples):
    s = next(s for s in samples if s.evidence_boxes)
    completion = {"text": "<think> a </think> & <x>", "boxes": [list(s.evidence_boxes[0])], "advantage": 0.5}
    group = {
        "id": s.id,
        "question": s.question,
        "answer": s.answer,
        "image": s.image_path,
        "evidence_boxes": s.evidence_boxes,
        "completions": [{**completion, "rewards": {"format": 1.0, "count": None}}] * 4,
    }
    parsed = check_page(rollout_page(7, [group, {**group, "image": None}]))
    assert parsed.header == "grit · rollouts at step 7" and parsed.counts["img"] == 4
    assert parsed.counts["h2"] == 2


def test_every_page_has_the_same_shell(samples):
    shells = [
        text[: text.index("<title>")] + text[text.index("</title>") : text.index("<header")]
        for text in (page("a", "<p>x</p>"), eval_report(eval_result(samples), {}), rollout_page(1, []))
    ]
    assert shells[0] == shells[1] == shells[2]


def test_links_are_relative_to_the_page(tmp_path):
    (tmp_path / "eval" / "a").mkdir(parents=True)
    (tmp_path / "eval" / "a" / "report.html").write_text("x")
    parsed = check_page(page("t", links([tmp_path / "eval" / "a" / "report.html"], tmp_path)))
    assert parsed.hrefs == ["eval/a/report.html"]
    check_links(parsed, tmp_path)


def test_provenance_names_code_seed_libraries_and_machine(tmp_path):
    record = provenance(seed=5)
    assert record["seed"] == 5 and record["threads"] >= 1
    assert set(record["versions"]) >= {"torch", "transformers", "trl", "grit", "python"}
    assert all(v and v != "not installed" for k, v in record["versions"].items())
    assert record["machine"]["cpu_count"] >= 1 and record["machine"]["platform"]
    commit = record["git_commit"]
    assert commit == "unknown" or len(commit.removesuffix("-dirty")) == 40
    assert git_commit(tmp_path) == "unknown"  # not a checkout
    assert "seed 5" in provenance_line(record)
    assert "seed" not in provenance_line(provenance(seed=None))  # an evaluation draws nothing: no "seed None"


def test_the_console_table_shows_one_data_set_once(samples):
    from grit.evaluate import console_table

    metrics = eval_result(samples).metrics  # one data set, and the overall row that would repeat it
    lines = console_table(metrics).splitlines()
    assert [line.split()[0] for line in lines if not line.startswith(" ")][1:] == ["test"]
    metrics["other"] = metrics["test"]
    assert [line.split()[0] for line in console_table(metrics).splitlines() if not line.startswith(" ")][1:] == [
        "test",
        "overall",
        "other",
    ]
