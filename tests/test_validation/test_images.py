"""Image data readers on files the tests write themselves (IDX plain/gz, CIFAR-10 pickles), their rejection of
missing, truncated, corrupt and mislabeled files, the classifiers and a short digits run."""
import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from pde_kan.validation.images import (DIGITS, IDX_FILES, DataFileError, ImageClassifier, load_cifar10,
                                       load_dataset, load_digits, load_idx_dataset, make_classifier, read_idx,
                                       run_images, train_config)


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(">u1" if type_code == 0x08 else array.dtype).tobytes()


def write(path, data: bytes, gz: bool = False):
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def make_idx_dir(d, gz=False, n_train=6, n_test=4, rows=3, cols=5, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, rows, cols), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    paths = {role: write(d / IDX_FILES[role], idx_bytes(a), gz) for role, a in arrays.items()}
    return arrays, paths


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_idx_reader_round_trips_images_and_labels(tmp_path, gz):
    arrays, _ = make_idx_dir(tmp_path, gz=gz)
    data = load_idx_dataset(tmp_path, "fashion-mnist")
    assert data.name == "fashion-mnist" and data.n_classes == 10
    assert data.x_train.shape == (6, 1, 3, 5) and data.x_train.dtype == torch.float32
    assert data.y_train.dtype == torch.int64
    assert torch.equal(data.x_train[:, 0], torch.from_numpy(arrays["train_images"].astype(np.float32) / 255))
    assert torch.equal(data.y_test, torch.from_numpy(arrays["test_labels"].astype(np.int64)))
    assert float(data.x_test.min()) >= 0 and float(data.x_test.max()) <= 1


def test_idx_reader_finds_files_in_raw_subdirectory_and_reads_other_types(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    make_idx_dir(raw, gz=True)
    assert load_dataset("kmnist", tmp_path).x_train.shape == (6, 1, 3, 5)
    ints = (np.arange(6).reshape(2, 3) - 2).astype(">i4")
    p = tmp_path / "ints.idx"
    p.write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 2, 3) + ints.tobytes())
    assert np.array_equal(read_idx(p), ints)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_truncated_idx_file_is_rejected_naming_path_and_expected_files(tmp_path, gz):
    _, paths = make_idx_dir(tmp_path, gz=gz)
    p = paths["train_images"]
    raw = gzip.decompress(p.read_bytes()) if gz else p.read_bytes()
    write(tmp_path / IDX_FILES["train_images"], raw[:-7], gz)
    with pytest.raises(DataFileError, match=rf"{p}: truncated IDX file: the header declares shape \(6, 3, 5\) "
                                            rf"\(106 bytes\) but the file has 99 bytes\..*train-images-idx3-ubyte"):
        load_idx_dataset(tmp_path)


def test_truncated_gzip_stream_is_rejected(tmp_path):
    _, paths = make_idx_dir(tmp_path, gz=True)
    p = paths["test_labels"]
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(DataFileError, match=rf"{p}: truncated or corrupt gzip file"):
        load_idx_dataset(tmp_path)


def test_not_an_idx_file_is_rejected(tmp_path):
    _, paths = make_idx_dir(tmp_path)
    paths["test_images"].write_text("<html>404 not found</html>")
    with pytest.raises(DataFileError, match=rf"{paths['test_images']}: not an IDX file \(magic bytes 3c68746d"):
        load_idx_dataset(tmp_path)


def test_swapped_idx_files_are_rejected_as_mislabeled(tmp_path):
    _, paths = make_idx_dir(tmp_path)
    img, lab = paths["train_images"], paths["train_labels"]
    a, b = img.read_bytes(), lab.read_bytes()
    img.write_bytes(b)
    lab.write_bytes(a)
    with pytest.raises(DataFileError, match=rf"{img}: mislabeled file: holds a 1-D uint8 array of shape \(6,\), "
                                            r"but train-images-idx3-ubyte must hold ubyte images"):
        load_idx_dataset(tmp_path)


def test_label_count_mismatch_and_out_of_range_labels_are_rejected(tmp_path):
    _, paths = make_idx_dir(tmp_path)
    write(tmp_path / IDX_FILES["test_labels"], idx_bytes(np.zeros(3, dtype=np.uint8)))
    with pytest.raises(DataFileError, match=rf"{paths['test_labels']}: mislabeled file: 3 labels for the 4 images "
                                            rf"of {paths['test_images']}"):
        load_idx_dataset(tmp_path)
    write(tmp_path / IDX_FILES["test_labels"], idx_bytes(np.array([1, 2, 12, 3], dtype=np.uint8)))
    with pytest.raises(DataFileError, match=r"label 12 outside 0\.\.9"):
        load_idx_dataset(tmp_path)


def test_missing_files_and_directory_are_reported_with_the_expected_names(tmp_path):
    _, paths = make_idx_dir(tmp_path)
    os.remove(paths["test_images"])
    with pytest.raises(DataFileError, match=rf"{tmp_path}: missing t10k-images-idx3-ubyte \(plain or \.gz\); "
                                            r"dataset 'mnist' expects train-images-idx3-ubyte\[\.gz\]"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DataFileError, match=r"nothing is downloaded; pass data_dir=<directory holding "
                                            r"train-images-idx3-ubyte"):
        load_dataset("mnist")
    with pytest.raises(DataFileError, match=rf"{tmp_path / 'nope'}: not a directory"):
        load_dataset("cifar10", tmp_path / "nope")
    with pytest.raises(ValueError, match="unknown dataset 'svhn'; valid names"):
        load_dataset("svhn")


def cifar_batch(n, seed):
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"x", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, n)]}


def make_cifar_dir(d, n=3):
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batches[name] = cifar_batch(n, i)
        (d / name).write_bytes(pickle.dumps(batches[name], protocol=2))
    return batches


def test_cifar_reader_stacks_batches_in_channel_first_layout(tmp_path):
    sub = tmp_path / "cifar-10-batches-py"
    sub.mkdir()
    batches = make_cifar_dir(sub)
    data = load_cifar10(tmp_path)
    assert data.x_train.shape == (15, 3, 32, 32) and data.x_test.shape == (3, 3, 32, 32)
    raw = batches["data_batch_2"][b"data"][1]  # training image 4: red plane, then green, then blue (row-major)
    assert float(data.x_train[4, 1, 2, 3]) == pytest.approx(raw[1024 + 2 * 32 + 3] / 255)
    assert data.y_test.tolist() == batches["test_batch"][b"labels"]


def test_cifar_reader_rejects_truncated_corrupt_and_mislabeled_batches(tmp_path):
    make_cifar_dir(tmp_path)
    p = tmp_path / "data_batch_3"
    good = p.read_bytes()
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataFileError, match=rf"{p}: truncated or corrupt CIFAR-10 batch .*must hold data_batch_1, "
                                            r"data_batch_2"):
        load_cifar10(tmp_path)
    bad = cifar_batch(3, 0)
    bad[b"labels"] = bad[b"labels"][:2]
    p.write_bytes(pickle.dumps(bad))
    with pytest.raises(DataFileError, match=rf"{p}: mislabeled batch: 2 labels for 3 images"):
        load_cifar10(tmp_path)
    p.write_bytes(pickle.dumps({b"data": np.zeros((3, 3072), np.uint8), b"fine_labels": [0, 1, 2]}))
    with pytest.raises(DataFileError, match=r"needs keys 'data' and 'labels'"):
        load_cifar10(tmp_path)
    os.remove(p)
    with pytest.raises(DataFileError, match=rf"{tmp_path}: missing data_batch_3; dataset 'cifar10' expects"):
        load_cifar10(tmp_path)


class Boom:
    def __reduce__(self):
        return (os.system, ("echo unsafe",))


def test_cifar_reader_refuses_pickles_that_run_code(tmp_path):
    make_cifar_dir(tmp_path)
    p = tmp_path / "test_batch"
    p.write_bytes(pickle.dumps({b"data": Boom(), b"labels": []}))
    with pytest.raises(DataFileError, match=r"refusing to load global (posix|os|nt)\.system"):
        load_cifar10(tmp_path)


def test_digits_split_is_deterministic_and_scaled():
    a, b = load_digits(seed=0), load_digits(seed=0)
    assert a.x_train.shape == (1438, 1, 8, 8) and a.x_test.shape == (359, 1, 8, 8)
    assert torch.equal(a.y_test, b.y_test)
    assert float(a.x_train.min()) == 0.0 and float(a.x_train.max()) == 1.0
    assert not torch.equal(load_digits(seed=1).y_test, a.y_test)


def test_classifier_maps_pixels_onto_the_grid_and_exposes_metakan_groups():
    model = make_classifier("metakan", (1, 8, 8), 10, DIGITS)
    assert isinstance(model, ImageClassifier)
    assert model.backbone.widths == [64, 64, 10]
    assert float(model.scale) * 0 + float(model.shift) == -1.0 and float(model.scale) + float(model.shift) == 1.0
    assert sorted(model.param_groups()) == ["embeddings", "hypernet"]
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 10)
    cfg = train_config(DIGITS, 1437, "metakan", epochs=2)
    assert cfg.group_lr == {"hypernet": DIGITS.hypernet_lr, "embeddings": DIGITS.embedding_lr}
    assert cfg.steps == 2 * 23 and cfg.dtype == "float32"
    kan = make_classifier("kan", (1, 8, 8), 10, DIGITS)
    assert model.n_parameters() <= kan.n_parameters() / 5


def test_reference_preset_reproduces_the_reference_fc_parameter_count():
    # Fashion-MNIST, hidden 32: 25,408 edges (784*32 + 32*10); the reference counts 10 numbers per edge
    # (254,080: 8 spline coefficients, base weight and a spline scale), pde_kan's KAN 9.
    stats = (0.2860, 0.3530)  # the reference's Fashion-MNIST Normalize constants
    kan = make_classifier("kan", (1, 28, 28), 10, stats=stats)
    meta = make_classifier("metakan", (1, 28, 28), 10, stats=stats)
    assert kan.n_parameters() == 25408 * 9
    assert meta.n_parameters() == 25408 + 2 * (2 * 32 + 33 * 9)


def test_a_short_digits_run_beats_a_stated_accuracy():
    preset = DIGITS.replace(hidden=(32,), batch_size=128, schedule="constant", lr=1e-2)
    report = run_images("digits", backbones=("kan",), preset=preset, epochs=5, device="cpu")
    (row,) = report.rows
    assert row["steps"] == 5 * 12 and row["task"] == row["dataset"] == "digits"
    assert row["test_accuracy"] >= 0.93, row  # 96.7% measured; chance is 10%
    assert row["params_ratio"] == 1.0


def test_preset_chooses_metakans_base_weight():
    from pde_kan.validation.images import DIGITS, ImagePreset, make_classifier

    net = make_classifier("metakan", (1, 8, 8), 10, DIGITS.replace(metakan_base_weight="free"))
    assert "base" in net.backbone.param_groups()
    src = net.backbone.layers[0].source
    assert src.base_mode == "free" and src.base().shape == (64, 64)
    with pytest.raises(ValueError, match=r"ImagePreset: unknown metakan_base_weight 'tied'"):
        ImagePreset(metakan_base_weight="tied")


def test_reference_preset_is_the_reference_scripts_recipe():
    # the reference code (docs/metakan.md, "Reproducing the reference runs"): README FC command and
    # image_classification/train_meta.py defaults; models/metakan.py's MetaNet is two Linear layers, no activation
    from pde_kan.validation.images import REFERENCE

    p = REFERENCE
    assert (p.batch_size, p.epochs, p.hidden, p.grid_size, p.spline_order, p.grid_range) == (
        128, 50, (32,), 5, 3, (-1.0, 1.0))
    assert (p.embedding_dim, p.hyper_hidden, p.hyper_activation, p.metakan_init) == (1, 32, "identity", "reference")
    assert (p.optimizer, p.hypernet_lr, p.embedding_lr) == ("adamw", 1e-4, 1e-3)
    assert (p.hypernet_weight_decay, p.embedding_weight_decay) == (1e-4, 5e-4)
    assert (p.schedule, p.hypernet_schedule, p.input_norm) == ("constant", "alternating", "standardize")
    cfg = train_config(p, 1438, "metakan")
    assert cfg.optimizer == "adamw" and cfg.schedule_period == 12 and cfg.steps == 50 * 12
    assert cfg.group_schedule == {"hypernet": "alternating"}
    assert cfg.group_weight_decay == {"hypernet": 1e-4, "embeddings": 5e-4}
    # the digits preset keeps pde_kan's own recipe
    d = train_config(DIGITS, 1438, "metakan")
    assert (d.optimizer, d.group_schedule, d.group_weight_decay) == ("adam", {}, {"hypernet": 0.0, "embeddings": 0.0})
    ref = make_classifier("metakan", (1, 8, 8), 10, p, stats=(0.3, 0.4)).backbone.config
    assert (ref["init"], ref["hyper_activation"], ref["widths"]) == ("reference", "identity", [64, 32, 10])
    mine = make_classifier("metakan", (1, 8, 8), 10, DIGITS).backbone.config
    assert (mine["init"], mine["hyper_activation"]) == ("pde_kan", "relu")


def test_standardized_inputs_are_the_reference_normalize():
    from pde_kan.validation.images import REFERENCE, input_stats

    g = torch.Generator().manual_seed(0)
    x = torch.rand(20, 3, 4, 4, generator=g)
    mean, std = input_stats(x)
    assert torch.allclose(mean, x.transpose(0, 1).reshape(3, -1).mean(1))
    model = make_classifier("mlp", (3, 4, 4), 10, REFERENCE, stats=(mean, std))
    want = model.backbone(((x - mean[:, None, None]) / std[:, None, None]).reshape(20, -1))
    assert torch.allclose(model(x), want, atol=1e-6)
    with pytest.raises(ValueError, match="input_norm='standardize' needs stats"):
        make_classifier("mlp", (3, 4, 4), 10, REFERENCE)
    with pytest.raises(ValueError, match="per-channel input_stats need image_shape"):
        ImageClassifier(model.backbone, input_stats=(mean, std), image_shape=(1, 4, 4))
