"""``SiteLayer`` (the user-site folder, hostile data) reaches its entries through ``HostLayer``
without following links: a link on the way or at the end is never followed out of the layer,
whichever way the layer walks (``openat2`` or one component at a time), and folders it makes
have ``os.mkdir``'s default mode, as before it shared ``HostLayer``'s walk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jupyter_sandbox.runtime import openat2
from jupyter_sandbox.runtime.site_layer import SiteLayer, UnsafeSitePath

WALKS = [False] + ([True] if openat2.available() else [])


@pytest.fixture(params=WALKS, ids=lambda uses: "openat2" if uses else "walk")
def layer(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> SiteLayer:
    monkeypatch.setattr(openat2, "available", lambda: request.param)
    return SiteLayer(tmp_path / "site")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("host secret")
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_links_on_the_way_or_at_the_end_are_never_followed(layer: SiteLayer,
                                                            outside: Path) -> None:
    layer.make_dir("pkg")
    os.symlink(outside, layer.root / "linked")
    os.symlink(outside / "secret.txt", layer.root / "pkg" / "METADATA")
    before = _snapshot(outside)

    assert layer.read_text("linked/secret.txt", 1000) is None
    assert layer.read_text("pkg/METADATA", 1000) is None
    assert layer.list_dir("linked") is None
    assert layer.is_dir("linked") is False
    assert layer.lstat("linked/secret.txt") is None
    assert layer.size("linked/secret.txt") == (0, 0)
    with pytest.raises(UnsafeSitePath):
        layer.make_dir("linked/new")
    with pytest.raises(UnsafeSitePath):
        layer.write_file("linked/new.py", layer.root / "pkg" / "METADATA")
    # Removing a link removes the link itself, never what it points to.
    link_size = len(os.readlink(layer.root / "linked"))
    assert layer.remove("linked") == (link_size, 1)
    assert not (layer.root / "linked").exists()
    assert _snapshot(outside) == before


def test_reading_writing_and_removing_inside_the_layer(layer: SiteLayer, tmp_path: Path) -> None:
    source = tmp_path / "source.py"
    source.write_text("print('hi')\n")
    assert layer.write_file("pkg/sub/mod.py", source) == source.stat().st_size
    assert layer.read_text("pkg/sub/mod.py", 1000) == "print('hi')\n"
    assert layer.read_text("pkg/sub/mod.py", 3) is None  # larger than the limit
    assert layer.list_dir("pkg") == [("sub", True)]
    assert layer.size("pkg") == (source.stat().st_size, 3)
    umask = os.umask(0)
    os.umask(umask)
    assert (layer.root / "pkg" / "sub").stat().st_mode & 0o777 == 0o777 & ~umask
    assert layer.remove("pkg") == (source.stat().st_size, 3)
    assert layer.list_dir("pkg") is None
    assert layer.remove_if_empty("pkg") is False


def test_paths_that_could_leave_the_layer_are_refused(layer: SiteLayer) -> None:
    for bad in ("", "/etc/passwd", "../x", "a/../../x", "a\x00b", "a\\b"):
        with pytest.raises(UnsafeSitePath):
            layer.read_text(bad, 10)


def test_a_missing_layer_reads_as_empty(layer: SiteLayer) -> None:
    assert layer.read_text("pkg/METADATA", 10) is None
    assert layer.top_folders(".dist-info") == []
    assert layer.remove("pkg") == (0, 0)
