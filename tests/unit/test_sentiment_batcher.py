"""Token-budget batching: every text scored once, in order, whatever the grouping; batches respect both
limits; concurrent callers share the batcher."""

import asyncio
from pathlib import Path

import numpy as np
import pytest

from services.sentiment.backends import Tokens, load_model
from services.sentiment.batcher import MicroBatcher, chunks, run_batch
from tests.tiny_models import STARS, tiny_checkpoint


def rows(lengths: list[int]) -> list[Tokens]:
    return [Tokens(list(range(n)), False) for n in lengths]


@pytest.mark.parametrize(("max_batch", "max_tokens"), [(64, 1024), (4, 1024), (64, 100), (1, 8)])
def test_chunks_cover_every_row_once_within_both_limits(max_batch: int, max_tokens: int):
    lengths = [3, 120, 7, 7, 64, 1, 33, 128, 2, 90, 15, 15, 15, 40] * 5
    batches = chunks(rows(lengths), max_batch, max_tokens)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        widest = max(lengths[i] for i in batch)
        assert len(batch) <= max_batch
        # A single row longer than the budget still forms a batch of its own.
        assert len(batch) * widest <= max_tokens or len(batch) == 1


def test_short_texts_go_many_to_a_batch_and_long_ones_few():
    batches = chunks(rows([4] * 100 + [128] * 20), max_batch=64, max_tokens=1024)
    assert max(len(b) for b in batches) == 64  # short rows fill up to max_batch
    long_batches = [b for b in batches if all(i >= 100 for i in b)]
    assert long_batches
    assert all(len(b) <= 1024 // 128 for b in long_batches)


def test_grouping_does_not_change_any_text_s_probabilities(tmp_path: Path):
    model = load_model(str(tiny_checkpoint(tmp_path / "m", STARS, onnx=True)), "onnx")
    texts = ["好", "包装破损，快递很慢，很失望" * 3, "the box was damaged", "还行", "好" * 300, ""]
    grouped = np.stack([s.probabilities for s in run_batch(model.backend, texts, 64, 64)])
    alone = np.stack([run_batch(model.backend, [t], 1, 1024)[0].probabilities for t in texts])
    np.testing.assert_allclose(grouped, alone, atol=1e-4)
    flags = [s.truncated for s in run_batch(model.backend, texts, 2, 16)]
    assert flags == [s.truncated for t in texts for s in run_batch(model.backend, [t], 1, 1024)]
    assert flags[texts.index("好" * 300)]
    assert not flags[texts.index("好")]


async def test_concurrent_callers_get_their_own_results_in_order(tmp_path: Path):
    model = load_model(str(tiny_checkpoint(tmp_path / "m", STARS, onnx=True)), "onnx")
    batcher = MicroBatcher(model.backend, max_batch=4, max_tokens=64, max_wait_s=0.01)
    calls = [[f"第{i}条 {'很好' * i}", "差", "the agent was professional"] for i in range(6)]
    try:
        results = await asyncio.gather(*(batcher.score(c) for c in calls))
    finally:
        await batcher.close()
    for texts, scored in zip(calls, results, strict=True):
        alone = np.stack([s.probabilities for s in run_batch(model.backend, texts, 64, 1024)])
        np.testing.assert_allclose(np.stack([s.probabilities for s in scored]), alone, atol=1e-4)


async def test_an_urgent_request_goes_ahead_of_the_consumer_backlog(tmp_path: Path):
    model = load_model(str(tiny_checkpoint(tmp_path / "m", STARS, onnx=True)), "onnx")
    batcher = MicroBatcher(model.backend, max_batch=4, max_tokens=64, max_wait_s=0.001)
    backlog = [f"第{i}条评论，{'物流很快' * (i % 7 + 1)}" for i in range(400)]
    try:
        bulk = [asyncio.ensure_future(batcher.score([text])) for text in backlog]
        while not any(b.done() for b in bulk):  # the backlog is being scored
            await asyncio.sleep(0.001)
        (urgent,) = await batcher.score(["客服态度很差"], urgent=True)
        done_before = sum(b.done() for b in bulk)
        scored = await asyncio.gather(*bulk)
    finally:
        await batcher.close()
    # Answered after at most a few model batches of the backlog, not after the backlog.
    assert done_before < len(backlog) // 4
    alone = run_batch(model.backend, ["客服态度很差"], 64, 1024)[0]
    np.testing.assert_allclose(urgent.probabilities, alone.probabilities, atol=1e-4)
    assert len(scored) == len(backlog)
