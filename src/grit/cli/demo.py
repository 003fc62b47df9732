"""``grit demo``: serve the web page of :mod:`grit.demo` for a local model folder."""

from __future__ import annotations

import os
import signal
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from grit.cli.common import UsageError, parse, quiet_transformers
from grit.models.loading import device_field, dtype_field, frame_field

HELP = "a web page that streams the grounded chain and draws its boxes as they appear"
QUICKSTART_MODEL = Path("runs/quickstart/grpo/model")


@dataclass
class DemoConfig:
    """``grit demo [--model DIR] [--host 127.0.0.1] [--port 7860]``."""

    model: str | None = field(
        default=None,
        metadata={"help": f"local model folder (default: {QUICKSTART_MODEL} when it exists, else the shipped base)"},
    )
    host: str = field(default="127.0.0.1", metadata={"help": "address to serve on (default: loopback only)"})
    port: int = field(default=7860, metadata={"help": "port to serve on", "min": 1, "max": 65535})
    dtype: str | None = dtype_field()
    device: str = device_field()
    frame: str | None = frame_field()
    seed: int = field(default=0, metadata={"help": "seed of the shapes-world example images"})


def default_model() -> Path:
    """The quickstart's trained model when it exists (run from the source tree), else the shipped base."""
    if (QUICKSTART_MODEL / "config.json").exists():
        return QUICKSTART_MODEL
    from grit.quickstart import shipped_base

    return shipped_base()


def main(argv: list[str]) -> int:
    (cfg,) = parse(argv, DemoConfig, prog="grit demo", description=DemoConfig.__doc__)
    # Before gradio is imported: it reads these at import. No analytics, no share link, no update check.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    model = Path(cfg.model) if cfg.model else default_model()
    if not model.is_dir():
        what = "is a file, not a folder" if model.exists() else "does not exist"
        raise UsageError(
            f"model folder {model} {what}; pass --model DIR (a saved model folder, e.g. "
            "runs/quickstart/grpo/model after `grit quickstart`)"
        )
    # A service manager's stop ends it as Ctrl+C does, even while the model loads, and its folders are removed on
    # the way out; Ctrl+C then reports a stop (exit status 130), as every command does, a SIGTERM a clean end.
    stops: list[int] = []
    previous = {sig: signal.signal(sig, partial(_stop, stops)) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with tempfile.TemporaryDirectory(prefix="grit-demo-") as folder, _uploads_in(Path(folder) / "uploads"):
            serve_model(cfg, model, folder)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if signal.SIGINT in stops:  # gradio closed its server on it and returned
        raise KeyboardInterrupt
    return 0


def serve_model(cfg: DemoConfig, model: Path, folder: str) -> None:
    """Load ``model`` and serve its page until stopped; the example images go in ``folder``."""
    try:
        import gradio  # noqa: F401
    except ImportError as e:
        raise UsageError(f"grit demo needs gradio: pip install 'grit[demo]' ({e})") from e
    quiet_transformers()
    from grit.demo.app import build_app, serve
    from grit.demo.examples import write_examples
    from grit.models.loading import ModelLoadError, load_policy

    check_address(cfg.host, cfg.port)  # before the model loads: a taken port fails in a second
    try:
        policy = load_policy(model, dtype=cfg.dtype, device=cfg.device, trust_remote_code=False, frame=cfg.frame)
    except ModelLoadError as e:
        raise UsageError(str(e)) from e
    policy.model.eval()
    examples = write_examples(folder, seed=cfg.seed)
    print(f"grit demo: {model} on http://{cfg.host}:{cfg.port} (Ctrl+C stops it)", flush=True)
    serve(build_app(policy, examples), cfg.host, cfg.port, allowed_paths=[folder])


def _stop(stops: list[int], signum, frame) -> None:
    stops.append(signum)
    raise KeyboardInterrupt  # gradio closes its server on it; before it serves, grit's main reports a stop


@contextmanager
def _uploads_in(folder: Path):
    """Keep the page's uploads (gradio copies each one) in the demo's own folder, not in a shared one that outlives it;
    a GRADIO_TEMP_DIR the user set is left as it is."""
    if "GRADIO_TEMP_DIR" in os.environ:
        yield
        return
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    try:
        yield
    finally:
        del os.environ["GRADIO_TEMP_DIR"]


def check_address(host: str, port: int) -> None:
    """Refuse, naming the fix, an address this machine cannot serve on (a taken port, a host not its own)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise UsageError(f"--host {host}: not a name or address this machine has ({e}); use 127.0.0.1") from e
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            raise UsageError(
                f"--host {host} --port {port}: cannot serve there ({e.strerror or e}); the port is taken or the "
                f"address is not this machine's: pass another --port (e.g. {port + 1 if port < 65535 else 7860})"
            ) from e
