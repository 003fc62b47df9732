"""An optional LLM judge over any OpenAI-compatible chat-completions endpoint (a local vLLM server, a hosted API).

It asks the paper's judge prompt (GRIT, Fig. 8) and parses the score the way the reference code does.
Unlike the reference, a failure is never a score: after the retries a :class:`JudgeResult` carries
``score=None`` and the reason, and callers count and report it. Successful scores are cached on disk
(SQLite), keyed by model and prompt, so re-running an evaluation costs nothing.

Configure with arguments or the environment: ``GRIT_JUDGE_BASE_URL`` (e.g. ``http://127.0.0.1:8000/v1``),
``GRIT_JUDGE_MODEL``, ``GRIT_JUDGE_API_KEY`` (falls back to ``OPENAI_API_KEY``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Answer checking, as commands and configs name it: the rule-based verifier (grit.answers) or this judge.
JUDGES = ("rules", "openai")

# The reference code's prompt; it writes the first "model’s" with a typographic apostrophe.
JUDGE_PROMPT = (
    "You are responsible for proofreading the answers, you need to give a score to the model\u2019s answer by "
    "referring to the standard answer, based on the given question. The full score is 1 point and the minimum "
    'score is 0 points. Please output the score in the json form "{{score: <score>}}". The evaluation criteria '
    "require that the closer the model's answer is to the standard answer, the higher the score.\n"
    "Question: {question}\nStandard answer: {answer}\nModel's answer: {prediction}"
)


def parse_judge_score(reply: str) -> float | None:
    """The reference code's score parsing: keep ``[\\w\\s.]``, lower-case, take what follows the last
    "score", its first 5 characters, digits and dots only. None when that is not a number in [0, 1].

    >>> parse_judge_score('{score: 0.8}'), parse_judge_score("Score: 1"), parse_judge_score("no idea")
    (0.8, 1.0, None)
    """
    text = re.sub(r"[^\w\s.]", "", str(reply)).lower()
    if "score" not in text:
        return None
    tail = text.rsplit("score", 1)[1][:5]
    digits = re.sub(r"[^\d.]", "", tail)
    try:
        value = float(digits)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


@dataclass(frozen=True)
class JudgeResult:
    score: float | None
    error: str | None = None
    attempts: int = 0
    cached: bool = False
    reply: str | None = None

    @property
    def ok(self) -> bool:
        return self.score is not None


class JudgeError(RuntimeError):
    """A judge call that failed: ``str(error)`` is its kind (``connection``, ``http 500``...), ``detail`` what
    happened, for the person who must fix the server."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(kind)
        self.detail = detail or kind


def unused_judge_fields(judge: str, prefix: str = "", **given: str | None) -> str | None:
    """Why LLM-judge fields (``judge_base_url``, ``judge_model``, ``judge_cache``) given with the rule-based
    verifier would be ignored, or None: the user most likely meant ``judge: openai``. ``prefix``: ``--`` for flags.

    >>> unused_judge_fields("rules", "--", judge_cache="j.sqlite", judge_model=None)
    '--judge_cache is given, but --judge is rules, which uses no LLM judge: add --judge openai, or drop --judge_cache'
    """
    names = [prefix + name for name, value in given.items() if value is not None]
    if judge != "rules" or not names:
        return None
    listed = " and ".join(names)
    return (
        f"{listed} {'is' if len(names) == 1 else 'are'} given, but {prefix}judge is rules, which uses no LLM judge: "
        f"add {prefix}judge openai, or drop {listed}"
    )


def check_cache(path: Path) -> None:
    """Refuse a judge cache that is a folder or a file other than an SQLite database, before any call."""
    if path.is_dir():
        raise JudgeError(f"judge cache {path} is a folder; give a file path, such as {path / 'judge.sqlite'}")
    if path.exists() and path.stat().st_size:
        try:
            with contextlib.closing(sqlite3.connect(path)) as db:
                db.execute("SELECT name FROM sqlite_master").fetchall()
        except sqlite3.DatabaseError as e:
            raise JudgeError(
                f"judge cache {path} is not an SQLite database ({e}); give a new file path, or the cache file an "
                "earlier run wrote"
            ) from e
    from grit.outputs import unwritable

    if problem := unwritable(path, folder=False):  # found now, not after every generation is done
        raise JudgeError(f"judge cache {path}: {problem}; give a file path this user can write")


@dataclass
class OpenAIJudge:
    """Scores (question, gold answer, prediction) triples in [0, 1] with an LLM.

    ``max_retries`` extra attempts follow a failed one (HTTP error, timeout, malformed reply, unparseable
    score), waiting ``backoff * 2**k`` seconds. ``attempt_failures`` counts failed attempts by kind.
    """

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    cache_path: str | None = None
    max_retries: int = 2
    timeout: float = 60.0
    backoff: float = 1.0
    temperature: float = 0.0
    max_workers: int = 8
    attempt_failures: dict[str, int] = field(default_factory=dict)
    failure_details: dict[str, str] = field(default_factory=dict)  # each kind's first failure, as it happened
    calls: int = 0
    scored: int = 0  # triples given a score, from the cache or a call

    def __post_init__(self):
        self.base_url = (self.base_url or os.environ.get("GRIT_JUDGE_BASE_URL") or "").rstrip("/")
        self.model = self.model or os.environ.get("GRIT_JUDGE_MODEL")
        self.api_key = self.api_key or os.environ.get("GRIT_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")
        if not self.base_url or not self.model:
            raise JudgeError(
                "the LLM judge needs an endpoint and a model: pass base_url/model (CLI: --judge_base_url, "
                "--judge_model) or set GRIT_JUDGE_BASE_URL and GRIT_JUDGE_MODEL; or use the rule-based "
                "verifier (--judge rules), which needs neither"
            )
        if not self.base_url.startswith(("http://", "https://")):
            raise JudgeError(
                f"judge base_url {self.base_url!r} is not an http(s) URL; give the endpoint's address, such as "
                "http://127.0.0.1:8000/v1"
            )
        if self.cache_path is not None:
            check_cache(Path(self.cache_path))
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def __getstate__(self):  # picklable for TRL / accelerate: connections and locks are re-made lazily
        state = dict(self.__dict__)
        state["_db"], state["_lock"] = None, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _cache(self) -> sqlite3.Connection | None:
        if self.cache_path is None:
            return None
        with self._lock:  # judged from many threads: none may see the connection before its table exists
            if self._db is None:
                Path(self.cache_path).parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.cache_path, check_same_thread=False)
                db.execute("CREATE TABLE IF NOT EXISTS judge (key TEXT PRIMARY KEY, score REAL, reply TEXT)")
                self._db = db
            return self._db

    def _key(self, prompt: str) -> str:
        return hashlib.sha256(f"{self.model}\n{self.temperature}\n{prompt}".encode()).hexdigest()

    def chat(self, messages: list[dict[str, Any]]) -> str:
        """One chat-completions request; returns the reply text or raises JudgeError with the reason."""
        body = json.dumps({"model": self.model, "messages": messages, "temperature": self.temperature}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = f"{self.base_url}/chat/completions"
        request = urllib.request.Request(url, body, headers, method="POST")
        late = f"no reply within {self.timeout:g} s from {url}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as e:
            raise JudgeError(f"http {e.code}", f"{url} answered HTTP {e.code} {e.reason}") from e
        except TimeoutError as e:
            raise JudgeError("timeout", late) from e
        except urllib.error.URLError as e:
            if isinstance(e.reason, (TimeoutError, socket.timeout)):
                raise JudgeError("timeout", late) from e
            raise JudgeError("connection", f"{url}: {e.reason}") from e
        try:
            return str(json.loads(payload)["choices"][0]["message"]["content"])
        except (ValueError, KeyError, IndexError, TypeError) as e:
            start = payload[:80].decode("utf-8", "replace")
            raise JudgeError("malformed reply", f"{url} sent no chat completion (it began {start!r})") from e

    def _record(self, kind: str, detail: str) -> None:
        with self._lock:
            self.attempt_failures[kind] = self.attempt_failures.get(kind, 0) + 1
            self.failure_details.setdefault(kind, detail)

    def failure_note(self) -> str | None:
        """The failed calls by kind, each with its first failure as it happened and what to check; None if none.

        >>> j = OpenAIJudge("http://127.0.0.1:9/v1", "m")
        >>> j._record("connection", "http://127.0.0.1:9/v1/chat/completions: [Errno 111] Connection refused")
        >>> print(j.failure_note())  # doctest: +NORMALIZE_WHITESPACE
        1 judge call failed: connection x1 (http://127.0.0.1:9/v1/chat/completions: [Errno 111] Connection refused);
        check that an OpenAI-compatible server answers at http://127.0.0.1:9/v1 and serves the model 'm'
        """
        if not self.attempt_failures:
            return None
        total = sum(self.attempt_failures.values())
        kinds = "; ".join(f"{k} x{n} ({self.failure_details.get(k, k)})" for k, n in self.attempt_failures.items())
        return (
            f"{total} judge call{'s' if total > 1 else ''} failed: {kinds}; check that an OpenAI-compatible server "
            f"answers at {self.base_url} and serves the model {self.model!r}"
        )

    def score(self, question: str, answer: str, prediction: str) -> JudgeResult:
        prompt = JUDGE_PROMPT.format(question=question, answer=answer, prediction=prediction)
        key = self._key(prompt)
        db = self._cache()
        if db is not None:
            with self._lock:
                row = db.execute("SELECT score, reply FROM judge WHERE key = ?", (key,)).fetchone()
            if row is not None:
                with self._lock:
                    self.scored += 1
                return JudgeResult(row[0], None, 0, True, row[1])
        error, reply = "no attempt", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            with self._lock:
                self.calls += 1
            try:
                reply = self.chat([{"role": "user", "content": prompt}])
            except JudgeError as e:
                error = str(e)
                self._record(error, e.detail)
                continue
            value = parse_judge_score(reply)
            if value is None:
                error = "unparseable score"
                self._record(error, f"no score in the reply {reply[:80]!r}")
                continue
            with self._lock:
                self.scored += 1
                if db is not None:
                    db.execute("INSERT OR REPLACE INTO judge VALUES (?, ?, ?)", (key, value, reply))
                    db.commit()
            return JudgeResult(value, None, attempt + 1, False, reply)
        return JudgeResult(None, error, self.max_retries + 1, False, reply)

    def score_many(self, items: Sequence[tuple[str, str, str]]) -> list[JudgeResult]:
        """Score (question, answer, prediction) triples concurrently, in order."""
        if len(items) <= 1:
            return [self.score(*item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(items))) as pool:
            return list(pool.map(lambda item: self.score(*item), items))
