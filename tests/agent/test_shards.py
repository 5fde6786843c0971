"""Which probe process probes which endpoint (``agent/shards.py``), and ``agent.workers`` in the config."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.agent.shards import probe_process_count, shard_of, split_limit
from probe_agent.config import ConfigError, load_config
from probe_agent.config.schema import MAX_WORKERS
from tests.e2e.harness import write_config

keys = st.text(min_size=1, max_size=64)


@given(keys, st.integers(min_value=1, max_value=MAX_WORKERS))
def test_a_shard_is_one_of_the_workers_and_the_same_every_time(key: str, workers: int) -> None:
    shard = shard_of(key, workers)
    assert 0 <= shard < workers
    assert shard_of(key, workers) == shard


def test_shards_are_the_same_in_another_process_with_another_hash_seed() -> None:
    """Not Python's salted ``hash``: a restarted daemon puts each endpoint on the same worker."""
    ids = [f"endpoint-{i}" for i in range(200)]
    here = [shard_of(k, 4) for k in ids]
    code = f"from probe_agent.agent.shards import shard_of; print([shard_of(k, 4) for k in {ids!r}])"
    for seed in ("1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        ).stdout
        assert out.strip() == str(here)


def test_pinned_shards_do_not_move_between_versions() -> None:
    """Changing the hash would move every endpoint to another worker on upgrade: these values are pinned."""
    assert [shard_of(k, 4) for k in ("api", "db", "www", "endpoint-1", "endpoint-2")] == [0, 1, 0, 1, 0]
    assert [shard_of(f"e{i}", 3) for i in range(12)] == [1, 1, 1, 0, 1, 1, 2, 1, 2, 0, 0, 0]


@settings(deadline=None)  # 10,000 hashes per example: no time limit in the test suite
@given(st.integers(min_value=2, max_value=16), st.sampled_from(["ep-{}", "{}.example.com", "svc/{}/health"]))
def test_shards_are_balanced(workers: int, pattern: str) -> None:
    """10,000 ids in a common naming scheme: each worker's count within 5 standard deviations of a fair die's (about
    6 % of the even share at 2 workers, 12 % at 16); a hash that favoured a worker would be far outside."""
    n = 10_000
    counts = Counter(shard_of(pattern.format(i), workers) for i in range(n))
    even, p = n / workers, 1 / workers
    sd = math.sqrt(n * p * (1 - p))
    assert set(counts) == set(range(workers))
    assert all(abs(c - even) <= 5 * sd for c in counts.values()), counts


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=1, max_value=MAX_WORKERS))
def test_limits_are_shared_so_the_totals_hold(total: int, workers: int) -> None:
    shares = split_limit(total, workers)
    assert len(shares) == workers
    assert min(shares) >= 1
    assert max(shares) - min(shares) <= 1
    assert sum(shares) == max(total, workers)  # each at least 1: below one each, the total is the worker count


def test_bad_worker_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        shard_of("a", 0)
    with pytest.raises(ValueError):
        split_limit(0, 2)


# -- agent.workers in the config ---------------------------------------------------------------------------------


def _config(tmp_path: Path, workers: object) -> Path:
    doc = {
        "agent": {"database": str(tmp_path / "a.db"), "workers": workers},
        "endpoints": [{"id": "a", "tcp": "127.0.0.1:9"}],
    }
    return write_config(tmp_path / "c.yaml", doc)


@pytest.mark.parametrize("bad", [0, -1, MAX_WORKERS + 1, "many", "", True, 1.5, None])
def test_bad_workers_values_are_config_errors_naming_the_key(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, bad))
    text = str(caught.value)
    assert "agent.workers" in text
    assert "c.yaml:" in text  # file:line
    assert "`auto`" in text and f"1 to {MAX_WORKERS}" in text


def test_auto_is_the_usable_cores_and_the_default(tmp_path: Path) -> None:
    loaded = load_config(_config(tmp_path, "auto"))
    assert loaded.config.agent.workers_count() == min(len(os.sched_getaffinity(0)), MAX_WORKERS)
    doc = {"agent": {"database": str(tmp_path / "a.db")}, "endpoints": [{"id": "a", "tcp": "127.0.0.1:9"}]}
    assert load_config(write_config(tmp_path / "d.yaml", doc)).config.agent.workers == "auto"


@pytest.mark.parametrize("n", [1, 3, MAX_WORKERS])
def test_a_number_is_taken_as_is(tmp_path: Path, n: int) -> None:
    assert load_config(_config(tmp_path, n)).config.agent.workers_count() == n


def test_never_more_probe_processes_than_max_concurrency(tmp_path: Path) -> None:
    doc = {
        "agent": {"database": str(tmp_path / "a.db"), "workers": 8, "max_concurrency": 3},
        "endpoints": [{"id": "a", "tcp": "127.0.0.1:9"}],
    }
    agent = load_config(write_config(tmp_path / "c.yaml", doc)).config.agent
    assert probe_process_count(agent) == 3  # each process gets one slot of the 3: the total holds
    assert probe_process_count(agent, prober_injected=True) == 1  # a test's prober answers in this process only


def test_a_per_host_limit_below_the_processes_is_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    doc = {
        "agent": {"database": str(tmp_path / "a.db"), "workers": 4, "per_host_limit": 2},
        "endpoints": [{"id": "a", "tcp": "127.0.0.1:9"}],
    }
    agent = load_config(write_config(tmp_path / "c.yaml", doc)).config.agent
    assert probe_process_count(agent) == 4
    assert "up to 4 probes of one host run at once" in caplog.text
