"""Model folders: one .npy per array, large ones memory-mapped so serving processes share them."""

import mmap

import numpy as np
import pytest

from ml import artifacts
from ml.artifacts import load_folder, save_folder


def test_large_arrays_load_memory_mapped_and_small_ones_in_memory(tmp_path):
    factors = np.arange(400_000, dtype=np.float32).reshape(-1, 4)  # 1.6 MB
    ids = np.array(["u1", "u2"], dtype=str)
    save_folder(tmp_path, {"name": "x"}, {"factors": factors, "ids": ids})
    config, loaded = load_folder(tmp_path)
    assert config == {"name": "x"}
    np.testing.assert_array_equal(loaded["factors"], factors)
    np.testing.assert_array_equal(loaded["ids"], ids)
    assert isinstance(loaded["factors"].base, np.memmap)  # pages of the file, not a copy
    assert isinstance(loaded["factors"].base.base, mmap.mmap)
    assert not isinstance(loaded["ids"].base, np.memmap)
    for array in loaded.values():
        with pytest.raises(ValueError, match="read-only"):
            array[0] = array[1]


def test_a_mapped_array_stays_readable_after_its_folder_is_deleted(tmp_path):
    """Retiring a version removes its folder while a worker may still serve it."""
    import shutil

    factors = np.random.default_rng(0).random((300_000, 2), dtype=np.float32)
    save_folder(tmp_path / "v1", {}, {"factors": factors})
    _, loaded = load_folder(tmp_path / "v1")
    shutil.rmtree(tmp_path / "v1")
    assert float(loaded["factors"].sum()) == pytest.approx(float(factors.sum()), rel=1e-5)


def test_a_folder_of_the_earlier_npz_layout_still_loads(tmp_path):
    (tmp_path / artifacts.CONFIG_FILE).write_text('{"name": "old"}')
    np.savez(tmp_path / artifacts.NPZ_FILE, item_factors=np.ones((3, 2), np.float32))
    config, loaded = load_folder(tmp_path)
    assert config == {"name": "old"}
    np.testing.assert_array_equal(loaded["item_factors"], np.ones((3, 2)))
    assert not loaded["item_factors"].flags.writeable


def test_truncated_or_missing_files_fail_to_load(tmp_path):
    save_folder(tmp_path, {}, {"factors": np.ones((300_000, 2), np.float32)})
    path = tmp_path / artifacts.ARRAYS_DIR / "factors.npy"
    path.write_bytes(path.read_bytes()[: 1 << 20])
    with pytest.raises(ValueError):
        load_folder(tmp_path)
    (tmp_path / artifacts.CONFIG_FILE).unlink()
    with pytest.raises(FileNotFoundError):
        load_folder(tmp_path)


@pytest.mark.parametrize("name", ["../escape", "a/b", "", "with space"])
def test_array_names_that_are_not_plain_file_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="array name"):
        save_folder(tmp_path, {}, {name: np.zeros(2)})
