"""``grit demo``: serve the web page of :mod:`grit.demo` for a local model folder."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from grit.cli import UsageError, _quiet_transformers

QUICKSTART_MODEL = Path("runs/quickstart/grpo/model")


def default_model() -> Path:
    """The quickstart's trained model when it exists (run from the source tree), else the shipped base."""
    if (QUICKSTART_MODEL / "config.json").exists():
        return QUICKSTART_MODEL
    from grit.quickstart import shipped_base

    return shipped_base()


def cmd_demo(args: argparse.Namespace) -> int:
    # Before gradio is imported: it reads these at import. No analytics, no share link, no update check.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    model = Path(args.model) if args.model else default_model()
    if not model.is_dir():
        raise UsageError(
            f"model folder {model} does not exist; pass --model DIR (a saved model folder, e.g. "
            "runs/quickstart/grpo/model after `grit quickstart`)"
        )
    try:
        import gradio  # noqa: F401
    except ImportError as e:
        raise UsageError(f"grit demo needs gradio: pip install 'grit[demo]' ({e})") from e
    _quiet_transformers()
    from grit.demo.app import build_app, serve
    from grit.demo.examples import write_examples
    from grit.models.loading import ModelLoadError, load_policy

    try:
        policy = load_policy(model, dtype=args.dtype, trust_remote_code=False)
    except ModelLoadError as e:
        raise UsageError(str(e)) from e
    policy.model.eval()
    with tempfile.TemporaryDirectory(prefix="grit-demo-") as folder:
        examples = write_examples(folder, seed=args.seed)
        print(f"grit demo: {model} on http://{args.host}:{args.port} (Ctrl+C stops it)", flush=True)
        serve(build_app(policy, examples), args.host, args.port, allowed_paths=[folder])
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("demo", help="a web page that streams the grounded chain and draws its boxes as they appear")
    p.add_argument(
        "--model",
        default=None,
        help=f"local model folder (default: {QUICKSTART_MODEL} when it exists, else the shipped tiny base)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default: loopback only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--dtype", default=None, help="float32 (CPU default), bfloat16, float16 or auto")
    p.add_argument("--seed", type=int, default=0, help="seed of the shapes-world example images")
    p.set_defaults(func=cmd_demo)
