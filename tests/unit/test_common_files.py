"""core.common.files: all or nothing, permissions kept, no temporary file left behind."""

from __future__ import annotations

import os
import stat

import pytest

from core.common.files import atomic_write, atomic_writer


def test_replaces_the_file_and_keeps_its_mode(tmp_path):
    target = tmp_path / "assay.toml"
    target.write_text("old\n")
    target.chmod(0o640)
    atomic_write(target, "new\r\nline\n")
    assert target.read_bytes() == b"new\r\nline\n"  # newlines written as given
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["assay.toml"]


def test_a_new_file_gets_the_requested_mode(tmp_path):
    target = tmp_path / "secret.txt"
    atomic_write(target, "x", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_failure_part_way_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "export.csv"
    target.write_text("complete\n")
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as out:
            out.write("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "complete\n"
    assert os.listdir(tmp_path) == ["export.csv"]
