"""The idempotency store on the real database: a claim of new pairs is a plain COPY; a claim that meets
pairs stored before says exactly which, inserts the others, and keeps using the tolerant statement
for a while before trying plain inserts again."""

from __future__ import annotations

import uuid

import pytest

from services.ingest import claims as store_module
from services.ingest.claims import Claims, RecordStore

pytestmark = pytest.mark.integration


def claims(names: list[str], client: str = "store-test") -> Claims:
    return Claims(
        [client] * len(names),
        names,
        ["feedback"] * len(names),
        [str(uuid.uuid4()) for _ in names],
        ["h" * 64] * len(names),
    )


@pytest.mark.parametrize("size", [5, store_module.COPY_MIN_RECORDS])  # a plain INSERT, a COPY
async def test_a_claim_of_new_pairs_inserts_them_all(database, size):
    store = RecordStore(database)
    run = uuid.uuid4().hex
    names = [f"{run}-{i}" for i in range(size)]
    assert await store.claim(1, claims(names)) == []
    assert set(await store.stored([("store-test", n) for n in names])) == {("store-test", n) for n in names}


async def test_a_claim_meeting_stored_pairs_says_which_and_inserts_the_rest(database, monkeypatch):
    store = RecordStore(database)
    run = uuid.uuid4().hex
    first = claims([f"{run}-{i}" for i in range(10)])
    assert await store.claim(1, first) == []
    mixed = [f"{run}-new-a", f"{run}-3", f"{run}-new-b", f"{run}-7"]
    mixed += [f"{run}-more-{i}" for i in range(store_module.COPY_MIN_RECORDS)]  # claimed by COPY
    assert await store.claim(2, claims(mixed)) == [1, 3]  # the COPY failed: the tolerant statement says
    stored = await store.stored([("store-test", n) for n in mixed])
    assert stored[("store-test", f"{run}-3")].record_id == first.record_ids[3]  # never overwritten
    assert stored[("store-test", f"{run}-new-b")].payload_hash == "h" * 64

    # For the next CAREFUL_CLAIMS claims the tolerant statement goes first; then plain inserts again.
    monkeypatch.setattr(store_module, "_INSERT_ALL", "SELECT no_such_column")  # fails loudly now
    for i in range(store_module.CAREFUL_CLAIMS):
        assert await store.claim(3, claims([f"{run}-careful-{i}", f"{run}-0"])) == [1]
    with pytest.raises(Exception, match="no_such_column"):
        await store.claim(4, claims([f"{run}-plain"]))
