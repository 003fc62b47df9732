"""Shared by the tests: offline environment, a fake chat-completions server (the LLM judge's tests) and a micro model
warm-started on the chain layout (GRPO-GR's tests)."""

import json
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class FakeChatServer:
    """Replies from a script of behaviours, then repeats the last one: ("ok", text), ("http", status),
    ("garbage", body), ("sleep", seconds)."""

    def __init__(self):
        self.script = [("ok", "{score: 1}")]
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                kind, value = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                if kind == "sleep":
                    time.sleep(value)
                    kind, value = "ok", "{score: 1}"
                if kind == "http":
                    self.send_response(value)
                    self.end_headers()
                    self.wfile.write(b'{"error": "boom"}')
                    return
                payload = (
                    value.encode()
                    if kind == "garbage"
                    else json.dumps({"choices": [{"message": {"role": "assistant", "content": value}}]}).encode()
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeChatServer()
    yield s
    s.close()


def make_warm_micro(root):
    """A micro model taught the chain layout with random answers, so sampled rewards differ within groups;
    ``root/warm`` (model) and ``root/data`` (shapes world)."""
    import torch

    from grit.chain import render
    from grit.data import load_samples
    from grit.data.images import load_image
    from grit.data.shapes.world import write_shapes
    from grit.models.loading import load_policy
    from grit.models.tiny import TinySpec, save_tiny
    from grit.warmstart import SelfChain, warm_start

    write_shapes(root / "data", n=200, seed=0)
    save_tiny(root / "micro", TinySpec(size="micro"))
    policy = load_policy(root / "micro")
    rng = random.Random(0)
    samples = load_samples(root / "data" / "train.jsonl")[:64]
    chains = [
        SelfChain(
            load_image(s.image_path),
            s.question,
            render(["I look."], "So.", rng.choice(["yes", "no", "0", "1", "2", "3", "4"])),
        )
        for s in samples
    ]
    torch.manual_seed(0)
    warm_start(policy, chains, steps=60, lr=3e-3, log=lambda *_: None)
    policy.model.save_pretrained(root / "warm")
    policy.processor.save_pretrained(root / "warm")
    return root


@pytest.fixture(scope="session")
def warm_micro(tmp_path_factory):
    """``make_warm_micro`` once per session: ``warm`` (model) and ``data`` (shapes world) under one folder."""
    return make_warm_micro(tmp_path_factory.mktemp("warm_micro"))
