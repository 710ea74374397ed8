"""SandboxCheckpoints' own storage rules, without a server: ids, pruning, renames."""

from __future__ import annotations

import asyncio
import json

import pytest
from tornado.web import HTTPError

from jupyter_sandbox.server_extension.checkpoints import SandboxCheckpoints


def _notebook(marker: str) -> dict:
    return {"cells": [{"cell_type": "code", "source": marker, "metadata": {}, "outputs": [],
                       "execution_count": None}], "metadata": {}, "nbformat": 4,
            "nbformat_minor": 5}


@pytest.fixture
def store(tmp_path) -> SandboxCheckpoints:
    return SandboxCheckpoints(root=str(tmp_path / "checkpoints"))


def _create(store: SandboxCheckpoints, path: str, marker: str) -> str:
    return asyncio.run(store.create_notebook_checkpoint(_notebook(marker), path))["id"]


def test_keeps_only_the_newest_per_file(store):
    store.max_per_file = 3
    ids = [_create(store, "a.ipynb", f"# {i}") for i in range(5)]
    listed = [c["id"] for c in asyncio.run(store.list_checkpoints("a.ipynb"))]
    assert listed == ids[-3:]
    newest = asyncio.run(store.get_notebook_checkpoint(ids[-1], "a.ipynb"))
    assert newest["content"]["cells"][0]["source"] == "# 4"


def test_total_size_prunes_oldest_but_never_the_newest_of_a_file(store):
    first = _create(store, "a.ipynb", "x" * 50_000)
    second = _create(store, "b.ipynb", "y" * 50_000)
    store.max_total_bytes = 10_000  # smaller than any single checkpoint
    third = _create(store, "a.ipynb", "z" * 50_000)
    assert [c["id"] for c in asyncio.run(store.list_checkpoints("a.ipynb"))] == [third]
    assert [c["id"] for c in asyncio.run(store.list_checkpoints("b.ipynb"))] == [second]
    assert first not in (second, third)


def test_bad_and_unknown_ids_are_http_errors(store):
    _create(store, "a.ipynb", "x")
    with pytest.raises(HTTPError) as bad:
        asyncio.run(store.get_notebook_checkpoint("../../etc", "a.ipynb"))
    assert bad.value.status_code == 400
    with pytest.raises(HTTPError) as unknown:
        asyncio.run(store.get_notebook_checkpoint("20200101T000000-abcdef", "a.ipynb"))
    assert unknown.value.status_code == 404


def test_rename_all_moves_checkpoints_and_records_the_new_path(store, tmp_path):
    made = _create(store, "old/a.ipynb", "x")
    asyncio.run(store.rename_all_checkpoints("old/a.ipynb", "new/b.ipynb"))
    assert asyncio.run(store.list_checkpoints("old/a.ipynb")) == []
    assert [c["id"] for c in asyncio.run(store.list_checkpoints("new/b.ipynb"))] == [made]
    metas = list((tmp_path / "checkpoints").glob("*/*/meta.json"))
    assert [json.loads(m.read_text())["path"] for m in metas] == ["new/b.ipynb"]
