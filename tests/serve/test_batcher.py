"""The micro-batcher in process: merging, splitting, signatures and failure isolation."""

import asyncio

import numpy as np
import pytest

from vlmreward_gym.models.control import OracleRewardModel
from vlmreward_gym.serve.server import Batcher, Overloaded
from vlmreward_gym.types import Capability, RewardQuery


class CountingOracle(OracleRewardModel):
    """The oracle, counting calls; an instruction of ``"boom"`` makes the whole call fail, ``"exit"`` and
    ``"interrupt"`` make it raise SystemExit / KeyboardInterrupt."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def _predict(self, query):
        self.batches.append(query.batch_size)
        if "boom" in query.instructions:
            raise RuntimeError("model exploded")
        if "exit" in query.instructions:
            raise SystemExit("a library called sys.exit()")
        if "interrupt" in query.instructions:
            raise KeyboardInterrupt
        return super()._predict(query)


def query(text, progress, timesteps=False):
    n = len(progress)
    return RewardQuery(instructions=(text,), want=Capability.PROGRESS | Capability.SUCCESS,
                       oracle_progress=(progress,), oracle_success=(np.zeros(n, bool),),
                       timesteps=(np.arange(n),) if timesteps else None)


async def run_all(batcher, queries):
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(q) for q in queries), return_exceptions=True)
    finally:
        await batcher.stop()


def test_merged_calls_answer_each_query_as_alone_and_fail_only_the_bad_one():
    model = CountingOracle()
    rng = np.random.default_rng(0)
    queries = [query(f"t{i}", rng.uniform(0, 1, 1 + i % 4), timesteps=i % 3 == 0) for i in range(12)]
    queries[5] = query("boom", [0.5])
    results = asyncio.run(run_all(Batcher(model, max_batch=8, max_wait_s=0.05), queries))
    alone = OracleRewardModel()
    for i, (q, out) in enumerate(zip(queries, results)):
        if i == 5:
            assert isinstance(out, RuntimeError) and "exploded" in str(out)
            continue
        np.testing.assert_array_equal(out.progress[0], alone(q).progress[0])
        np.testing.assert_array_equal(out.success, alone(q).success)
    assert 1 < max(model.batches) <= 8  # merged; the failed batch was then run query by query


def test_system_exit_or_keyboard_interrupt_from_the_model_fails_only_its_request():
    queries = [query("a", [0.1]), query("exit", [0.2]), query("b", [0.3]), query("interrupt", [0.4]), query("c", [0.5])]
    results = asyncio.run(run_all(Batcher(CountingOracle(), max_batch=8, max_wait_s=0.05), queries))
    for i, name in ((1, "SystemExit"), (3, "KeyboardInterrupt")):
        assert isinstance(results[i], RuntimeError) and name in str(results[i]), results[i]
    assert [results[i].progress[0].tolist() for i in (0, 2, 4)] == [[0.1], [0.3], [0.5]]


def test_full_queue_is_refused():
    async def go():
        batcher = Batcher(CountingOracle(), max_queue=1)
        first = asyncio.ensure_future(batcher.submit(query("a", [0.1])))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded, match="retry later"):
            await batcher.submit(query("b", [0.2]))
        batcher.start()
        out = await first
        await batcher.stop()
        return out

    assert asyncio.run(go()).progress[0].tolist() == [0.1]
