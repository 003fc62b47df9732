"""The LLM judge against a real HTTP server on loopback that speaks the chat-completions API (``server`` and
``FakeChatServer``: conftest.py)."""

import pytest

from grit.judge import JUDGE_PROMPT, JudgeError, OpenAIJudge, parse_judge_score
from grit.rewards import RewardSettings, get_reward


def judge_for(server, **kw):
    return OpenAIJudge(base_url=server.url, model="judge-test", api_key="k", backoff=0.0, **kw)


def test_success_sends_the_paper_prompt(server):
    server.script = [("ok", "The answer matches. {score: 0.8}")]
    result = judge_for(server).score("How many?", "2", "two")
    assert result.score == 0.8 and result.ok and result.attempts == 1
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer k"
    assert request["body"]["model"] == "judge-test"
    assert request["body"]["messages"][0]["content"] == JUDGE_PROMPT.format(
        question="How many?", answer="2", prediction="two"
    )
    assert "Standard answer: 2\nModel's answer: two" in request["body"]["messages"][0]["content"]


def test_retry_after_http_error(server):
    server.script = [("http", 500), ("ok", "{score: 0}")]
    judge = judge_for(server)
    result = judge.score("q", "a", "b")
    assert result.score == 0.0 and result.attempts == 2
    assert judge.attempt_failures == {"http 500": 1}


@pytest.mark.parametrize(
    "script, error",
    [
        ([("http", 503)], "http 503"),
        ([("garbage", "not json")], "malformed reply"),
        ([("garbage", '{"choices": []}')], "malformed reply"),
        ([("ok", "I cannot judge this.")], "unparseable score"),
        ([("ok", "score: 7")], "unparseable score"),
    ],
)
def test_failures_are_reported_not_zero(server, script, error):
    server.script = script
    judge = judge_for(server, max_retries=2)
    result = judge.score("q", "a", "b")
    assert result.score is None and not result.ok
    assert result.error == error and result.attempts == 3
    assert sum(judge.attempt_failures.values()) == 3


def test_timeout(server):
    server.script = [("sleep", 1.0)]
    result = judge_for(server, timeout=0.2, max_retries=0).score("q", "a", "b")
    assert result.score is None and result.error == "timeout"


def test_connection_refused():
    judge = OpenAIJudge(base_url="http://127.0.0.1:9/v1", model="m", max_retries=0, backoff=0.0, timeout=2)
    result = judge.score("q", "a", "b")
    assert result.score is None and result.error == "connection"


def test_cache_hits_skip_the_server(server, tmp_path):
    server.script = [("ok", "{score: 0.5}")]
    cache = tmp_path / "judge.sqlite"
    first = judge_for(server, cache_path=str(cache)).score("q", "a", "b")
    second = judge_for(server, cache_path=str(cache)).score("q", "a", "b")
    assert (first.score, first.cached) == (0.5, False)
    assert (second.score, second.cached) == (0.5, True)
    assert len(server.requests) == 1


def test_answer_reward_with_judge_reports_failures(server):
    server.script = [("ok", "{score: 0.6}"), ("http", 500)]
    judge = judge_for(server, max_retries=0, max_workers=1)
    reward = get_reward("answer_accuracy", RewardSettings(judge=judge))
    texts = ["<think> </think> <rethink> </rethink> <answer> 2 </answer>"] * 2 + ["no answer at all"]
    out = reward(texts, question=["q1", "q2", "q3"], answer=["2", "3", "4"])
    assert out == [0.6, None, 0.0]  # a judge failure is None (left out), a missing answer is a real 0
    assert reward.failures == 1
    binarised = get_reward("reference_answer_judge", RewardSettings(judge=judge_for(server)))
    server.script = [("ok", "{score: 0.2}")]
    assert binarised(texts[:1], question=["q"], answer=["x"], dataset=["vsr"]) == [1.0]
    assert binarised(texts[:1], question=["q"], answer=["x"], dataset=["ovd_position"]) == [0.0]


def test_judge_needs_configuration(monkeypatch):
    monkeypatch.delenv("GRIT_JUDGE_BASE_URL", raising=False)
    monkeypatch.delenv("GRIT_JUDGE_MODEL", raising=False)
    with pytest.raises(JudgeError, match="--judge rules"):
        OpenAIJudge()


def test_judge_pickles(server):
    import pickle

    judge = judge_for(server, cache_path=None)
    clone = pickle.loads(pickle.dumps(judge))
    assert clone.score("q", "a", "b").score == 1.0


@pytest.mark.parametrize(
    "reply, score",
    [
        ("{score: 1}", 1.0),
        ('{"score": 0.75}', 0.75),
        ("Score: 0.5 because", 0.5),
        ("score 0", 0.0),
        ("the score is high", None),
        ("", None),
        ("{score: 1.5}", None),
        ("score: 0.3, final score: 0.9", 0.9),
    ],
)
def test_parse_judge_score(reply, score):
    assert parse_judge_score(reply) == score


def test_a_new_cache_judged_from_many_threads_at_once(tmp_path):
    """Every thread's first look at a new cache finds its table (a race once made some ``no such table``)."""
    for run in range(40):
        judge = OpenAIJudge(
            base_url="http://127.0.0.1:9/v1",
            model="m",
            max_retries=0,
            backoff=0.0,
            timeout=2,
            cache_path=str(tmp_path / f"cache-{run}.sqlite"),
        )
        results = judge.score_many([(f"q{i}", "a", "b") for i in range(16)])
        assert [r.error for r in results] == ["connection"] * 16


def test_score_leaves_out_the_totals_the_judge_could_not_score_and_fails_when_it_scored_none(server, tmp_path, capsys):
    import json
    from pathlib import Path

    from grit.cli import main

    examples = Path(__file__).resolve().parent.parent / "examples" / "score"
    argv = ["score", "--data", str(examples / "data.jsonl"), "--completions", str(examples / "completions.jsonl")]
    judge = ["--judge", "openai", "--judge_base_url", server.url, "--judge_model", "j"]
    server.script = [("ok", "{score: 1}"), ("http", 500)]  # the first call answers, every later one fails
    assert main([*argv, *judge, "--out", str(tmp_path / "a.jsonl")]) == 0
    printed = capsys.readouterr()
    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    failed = [r for r in records if "judge_failed" in r]
    assert failed and all(r["total"] is None and r["rewards"]["answer_accuracy"] is None for r in failed)
    assert all(r["total"] is not None for r in records if "judge_failed" not in r)
    assert f"judge failed on {len(failed)} completions: their answer term and total are left out, not 0" in printed.out
    assert "judge calls failed: http 500 x" in printed.err and "answered HTTP 500" in printed.err
    server.script = [("http", 500)]
    assert main([*argv, *judge, "--out", str(tmp_path / "b.jsonl")]) == 2
    assert "the judge scored no completion" in capsys.readouterr().err
    assert (tmp_path / "b.jsonl").is_file()  # the scores that could be computed are written all the same
