"""The Gradio page of ``grit demo``: ask a question about an image and watch the chain ground itself.

Left: the inputs and the examples. Right: one answer panel (two with *compare*: the grounded and the direct prompt
side by side), each with the image and its boxes drawn as they complete, the streamed chain, the
answer, the table of boxes and the format flags. Gradio is imported here only, inside the functions.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grit.demo.ask import MAX_NEW_TOKENS, InputProblem, ask, check_question, generation_settings, model_input_note
from grit.demo.ask import open_upload as open_image
from grit.demo.examples import Example
from grit.demo.stream import box_keys
from grit.demo.view import (
    BOX_COLUMNS,
    box_rows,
    chain_html,
    display_image,
    draw_partial,
    flags_html,
)
from grit.models.generation import PromptTooLong
from grit.models.loading import Policy
from grit.prompts import PROMPT_KINDS

log = logging.getLogger(__name__)
COMPARED = ("grounded", "direct")  # the prompts of a compare run, left to right
REFRESH_SECONDS = 0.05  # at most ~20 page updates a second while tokens stream in (and on every new box)

CSS = """
.chain { font-family: ui-monospace, monospace; font-size: 14px; line-height: 1.6; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.chain .block { border-left: 4px solid #bbb; padding: 4px 8px; margin: 4px 0; border-radius: 4px; }
.chain .block-think { border-color: #3b82f6; background: rgba(59,130,246,.07); }
.chain .block-rethink { border-color: #a855f7; background: rgba(168,85,247,.07); }
.chain .block-answer { border-color: #16a34a; background: rgba(22,163,74,.09); }
.chain .block-outside { border-color: #9ca3af; color: #6b7280; }
.chain .block-name { display: block; font-size: 11px; text-transform: uppercase; letter-spacing: .05em;
  color: #6b7280; font-family: ui-sans-serif, sans-serif; }
.chain mark.box { background: rgba(250,204,21,.22); color: inherit; border-bottom: 2px solid; padding-bottom: 2px; }
.chain mark.box.pending { border-bottom: 3px dashed #9ca3af; background: rgba(156,163,175,.2); }
.chain sup.box-number { color: #000; border-radius: 3px; padding: 0 3px; margin-right: 2px; font-weight: 600; }
.chain .cursor { animation: blink 1s steps(1) infinite; color: #6b7280; }
@keyframes blink { 50% { opacity: 0; } }
.flags .flag { display: inline-block; padding: 1px 8px; margin: 2px; border-radius: 10px; font-size: 12px; }
.flags .flag-closed { background: #dcfce7; color: #166534; }
.flags .flag-open { background: #fef9c3; color: #854d0e; }
.flags .flag-missing { background: #f3f4f6; color: #6b7280; }
.flags .problems { margin: 4px 0 0 16px; font-size: 12px; color: #9a3412; }
"""


def plain(text: str) -> str:
    """``text`` (an uploaded file's name, a path) shown as typed in Markdown: its Markdown characters escaped."""
    return re.sub(r"([\\`*_\[\]()#+\-.!|<>{}~])", r"\\\1", text)


@dataclass
class Panel:
    """The components of one answer panel."""

    title: Any
    drawn: Any
    chain: Any
    answer: Any
    boxes: Any
    flags: Any

    def cleared(self, title: str, image) -> dict:
        return {self.title: title, self.drawn: image, self.chain: "", self.answer: "", self.boxes: [], self.flags: ""}


def _panel(gr, prefix: str, title: str, frame_kind: str) -> Panel:
    headers = list(BOX_COLUMNS)
    headers[BOX_COLUMNS.index("model frame")] = f"model frame ({frame_kind})"
    return Panel(
        title=gr.Markdown(title, elem_id=f"{prefix}-title"),
        drawn=gr.Image(
            label="boxes on the image (original pixels)", type="pil", interactive=False, elem_id=f"{prefix}-drawn"
        ),
        chain=gr.HTML(label="chain", elem_id=f"{prefix}-chain"),
        answer=gr.Textbox(label="answer", interactive=False, elem_id=f"{prefix}-answer"),
        boxes=gr.Dataframe(
            headers=headers,
            datatype="str",
            interactive=False,
            label="boxes",
            wrap=True,
            column_widths=["5%", "10%", "18%", "22%", "33%", "12%"],
            elem_id=f"{prefix}-boxes",
        ),
        flags=gr.HTML(label="format", elem_id=f"{prefix}-flags"),
    )


def _title(kind: str) -> str:
    return f"### {kind} prompt"


def _stream_panel(policy: Policy, panel: Panel, status, image, question: str, kind: str, settings):
    """Page updates while one answer streams into ``panel``; returns the final status line."""
    shown, scale = display_image(image)
    drawn_for, last, line = None, 0.0, ""
    for answer in ask(policy, image, question, kind, settings):
        keys = box_keys(answer.partial)
        if not (answer.done or keys != drawn_for or time.monotonic() - last >= REFRESH_SECONDS):
            continue
        line = answer.status()
        update = {
            panel.chain: chain_html(answer.partial, writing=not answer.done),
            panel.answer: answer.answer or "",
            panel.boxes: box_rows(answer.partial),
            panel.flags: flags_html(answer.partial, answer.frame, kind),
            status: line,
        }
        if keys != drawn_for:
            update[panel.drawn] = draw_partial(shown, scale, answer.partial)
            drawn_for = keys
        last = time.monotonic()
        yield update
    return line


def build_app(policy: Policy, examples: Sequence[Example]):
    """The page for ``policy`` (a :class:`gradio.Blocks`; launch it with :func:`serve`)."""
    import gradio as gr

    params = sum(p.numel() for p in policy.model.parameters())
    shown_path = Path(policy.path).resolve()
    if shown_path.is_relative_to(Path.cwd()):
        shown_path = shown_path.relative_to(Path.cwd())
    with gr.Blocks(title="grit demo", analytics_enabled=False) as app:
        gr.Markdown(
            f"## grit demo: grounded reasoning, streamed\nModel <code>{html.escape(str(shown_path))}</code>: "
            f"{policy.family.name}, "
            f"{params:,} parameters, boxes in the *{policy.frame.kind}* frame, mapped to original pixels."
        )
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                upload = gr.File(label="image (upload, or pick an example below)", type="filepath", elem_id="image")
                question = gr.Textbox(label="question", lines=2, elem_id="question")
                kind = gr.Dropdown(choices=list(PROMPT_KINDS), value="grounded", label="prompt", elem_id="prompt-kind")
                with gr.Row():
                    max_new_tokens = gr.Slider(
                        1, MAX_NEW_TOKENS, value=256, step=1, label="max new tokens", elem_id="max-new-tokens"
                    )
                    temperature = gr.Slider(
                        0.0, 2.0, value=0.0, step=0.05, label="temperature (0: greedy)", elem_id="temperature"
                    )
                compare = gr.Checkbox(
                    label="compare: answer with the grounded and the direct prompt side by side (instead of the "
                    "prompt chosen above)",
                    elem_id="compare",
                )
                run = gr.Button("Ask", variant="primary", elem_id="ask")
                status = gr.Markdown("Upload an image or pick an example, then ask.", elem_id="status")
                gallery = gr.Gallery(
                    value=[(str(e.image), e.caption) for e in examples],
                    label="examples (shapes world)",
                    columns=3,
                    rows=2,
                    height=300,
                    allow_preview=False,
                    buttons=[],
                    interactive=False,
                    elem_id="examples",
                )
            with gr.Column(scale=2, min_width=360):
                main = _panel(gr, "main", _title("grounded"), policy.frame.kind)
            with gr.Column(scale=2, min_width=360, visible=False) as compare_column:
                side = _panel(gr, "compare", _title("direct"), policy.frame.kind)

        def on_example(evt):
            chosen = examples[evt.index]
            return str(chosen.image), chosen.question, chosen.kind

        # gradio passes the selection to a parameter annotated SelectData; with postponed annotations it would see
        # only the string "gr.SelectData", which it cannot resolve here, so the class is set explicitly.
        on_example.__annotations__["evt"] = gr.SelectData

        def on_image(path):
            if not path:
                return {main.drawn: None, status: "Upload an image or pick an example, then ask."}
            try:
                image = open_image(path)
            except InputProblem as e:
                return {main.drawn: None, status: f"**Cannot use this file.** {plain(str(e))}"}
            return {main.drawn: display_image(image)[0], status: f"Image: {model_input_note(policy, image)}"}

        def on_ask(path, text, chosen_kind, both, limit, temp):
            try:
                image, text = open_image(path), check_question(text, policy)
                settings = generation_settings(limit, temp)
            except InputProblem as e:
                yield {status: f"**Cannot ask.** {plain(str(e))}"}
                return
            kinds = list(COMPARED) if both else [chosen_kind]
            panels, shown = [main, side][: len(kinds)], display_image(image)[0]
            yield {k: v for p, name in zip(panels, kinds) for k, v in p.cleared(_title(name), shown).items()}
            try:
                lines = []
                for panel, name in zip(panels, kinds):
                    lines.append((yield from _stream_panel(policy, panel, status, image, text, name, settings)))
                yield {status: "\n\n".join(lines)}
            except PromptTooLong as e:
                yield {status: f"**Cannot ask:** {plain(str(e))}. Shorten the question or lower *max new tokens*."}
            except Exception as e:  # the page says what broke and the server keeps serving
                log.exception("generation failed")
                yield {status: f"**Generation failed** ({type(e).__name__}: {e}). The server log has the details."}

        gallery.select(on_example, None, [upload, question, kind])
        upload.change(on_image, upload, [main.drawn, status])
        compare.change(lambda on: gr.update(visible=on), compare, compare_column)
        outputs = [status, main.title, side.title]
        outputs += [c for p in (main, side) for c in (p.drawn, p.chain, p.answer, p.boxes, p.flags)]
        inputs = [upload, question, kind, compare, max_new_tokens, temperature]
        run.click(on_ask, inputs, outputs, concurrency_id="generate")  # one generation at a time on the model
        question.submit(on_ask, inputs, outputs, concurrency_id="generate")
    return app


def serve(app, host: str, port: int, allowed_paths: Sequence[str] = ()) -> None:
    """Serve the page until interrupted (on loopback unless ``host`` says otherwise; never a share link)."""
    app.queue(default_concurrency_limit=1).launch(
        server_name=host,
        server_port=port,
        share=False,
        show_error=True,
        ssr_mode=False,
        max_file_size="200mb",
        allowed_paths=list(allowed_paths),
        css=CSS,
        footer_links=[],
        inbrowser=False,
    )
