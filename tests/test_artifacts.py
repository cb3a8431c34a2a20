import numpy as np
import pytest

from rppg_lib.steps.artifacts import load_arrays, load_json, save_arrays, save_json, stage_dir


def test_arrays_and_json_round_trip(tmp_path):
    pulse = np.linspace(-1, 1, 50, dtype=np.float32)
    masks = np.random.default_rng(0).random((3, 34, 34)).astype(np.float16)
    path = save_arrays(tmp_path, "03_attention_masks", "s01_clean", pulse=pulse, masks=masks)
    assert path == tmp_path / "artifacts" / "03_attention_masks" / "s01_clean.npz"
    loaded = load_arrays(tmp_path, "03_attention_masks", "s01_clean")
    assert loaded["masks"].dtype == np.float16
    np.testing.assert_array_equal(loaded["pulse"], pulse)
    np.testing.assert_array_equal(loaded["masks"], masks)

    save_json(tmp_path, "00_synthetic_data", "dataset", {"name": "synthetic", "subjects": 4})
    assert load_json(tmp_path, "00_synthetic_data", "dataset") == {
        "name": "synthetic",
        "subjects": 4,
    }


def test_missing_artifact_names_the_notebook_that_makes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 02_train_tscan"):
        load_arrays(tmp_path, "02_train_tscan", "history")
    assert not (tmp_path / "artifacts" / "02_train_tscan").exists()


def test_bad_stage_and_empty_artifact_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="stage"):
        stage_dir(tmp_path, "../escape")
    with pytest.raises(ValueError, match="no arrays"):
        save_arrays(tmp_path, "04_inverse_attention_noise", "empty")
