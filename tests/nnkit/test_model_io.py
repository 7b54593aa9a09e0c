"""Tests of nnkit.model_io: saved models come back with identical test-time scores, and
broken files fail with an error that names them."""
import json

import numpy as np
import pytest

from nnkit.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
from nnkit.model_io import ModelFileError, load_model, save_model


def trained_batchnorm_net():
    """A float32 batchnorm + dropout network whose running averages are not zero."""
    rng = np.random.RandomState(0)
    model = FullyConnectedNet([7, 8], input_dim=6, num_classes=5, normalization="batchnorm",
                              dropout_keep_ratio=0.8, reg=0.01, weight_scale=0.3, seed=3)
    for _ in range(3):
        model.loss(rng.randn(10, 6) + 2, rng.randint(5, size=10))
    return model


def test_round_trip_of_a_batchnorm_net_gives_identical_scores(tmp_path):
    model = trained_batchnorm_net()
    X = np.random.RandomState(1).randn(4, 6)
    path = save_model(model, tmp_path / "best_model.npz")
    loaded = load_model(path)

    assert type(loaded) is FullyConnectedNet
    assert loaded.init_args == model.init_args
    assert np.array_equal(loaded.loss(X), model.loss(X))
    for name, value in model.params.items():
        assert loaded.params[name].dtype == value.dtype == np.float32
        assert np.array_equal(loaded.params[name], value)
    for saved, restored in zip(model.norm_params, loaded.norm_params):
        assert np.any(saved["running_mean"] != 0)
        assert np.array_equal(restored["running_mean"], saved["running_mean"])
        assert np.array_equal(restored["running_var"], saved["running_var"])
    assert loaded.dropout_param == {"mode": "test", "p": 0.8, "seed": 3}


@pytest.mark.parametrize("normalization", [None, "layernorm"])
def test_round_trip_of_other_fully_connected_nets(tmp_path, normalization):
    np.random.seed(0)
    model = FullyConnectedNet([5], input_dim=4, num_classes=3, normalization=normalization,
                              weight_scale=0.5, dtype=np.float64)
    X = np.random.randn(3, 4)
    loaded = load_model(save_model(model, tmp_path / "net.npz"))
    assert np.array_equal(loaded.loss(X), model.loss(X))


def test_round_trip_of_a_two_layer_net_keeps_a_changed_reg(tmp_path):
    np.random.seed(0)
    model = TwoLayerNet(input_dim=12, hidden_dim=6, num_classes=4, weight_scale=0.5)
    model.reg = 0.25  # notebooks change reg after construction
    X, y = np.random.randn(3, 3, 2, 2), np.array([0, 1, 3])
    loaded = load_model(save_model(model, tmp_path / "two_layer.npz"))
    assert type(loaded) is TwoLayerNet
    assert loaded.reg == 0.25
    assert np.array_equal(loaded.loss(X), model.loss(X))
    assert loaded.loss(X, y)[0] == model.loss(X, y)[0]


def test_a_batchnorm_net_saved_before_training_loads(tmp_path):
    np.random.seed(0)
    model = FullyConnectedNet([5], input_dim=4, num_classes=3, normalization="batchnorm")
    loaded = load_model(save_model(model, tmp_path / "untrained.npz"))
    X = np.random.randn(2, 4)
    assert np.array_equal(loaded.loss(X), model.loss(X))


def test_the_npz_suffix_is_added_when_missing(tmp_path):
    model = TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=2)
    path = save_model(model, tmp_path / "models" / "best")
    assert path == tmp_path / "models" / "best.npz" and path.is_file()
    assert load_model(tmp_path / "models" / "best").init_args == model.init_args


def test_the_file_holds_only_plain_arrays_and_a_json_description(tmp_path):
    path = save_model(trained_batchnorm_net(), tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as npz:
        files = set(npz.files)
        metadata = json.loads(str(npz["nnkit_model"]))
    assert {"params/W1", "params/gamma2", "running_mean/1", "running_var/2"} <= files
    assert metadata["class"] == "FullyConnectedNet"
    assert metadata["init_args"]["normalization"] == "batchnorm"


def test_loading_leaves_the_global_random_state_alone(tmp_path):
    path = save_model(FullyConnectedNet([20], input_dim=30, num_classes=4), tmp_path / "m.npz")
    np.random.seed(9)
    expected = np.random.rand()
    np.random.seed(9)
    load_model(path)
    assert np.random.rand() == expected


def test_saving_something_else_is_a_type_error(tmp_path):
    with pytest.raises(TypeError, match="save_model"):
        save_model({"W1": np.zeros(3)}, tmp_path / "dict.npz")


def test_a_missing_file_is_named(tmp_path):
    missing = tmp_path / "nowhere.npz"
    with pytest.raises(FileNotFoundError) as info:
        load_model(missing)
    assert str(missing) in str(info.value)


@pytest.mark.parametrize("content", [b"this is not a model\n", b"", b"PK\x03\x04broken zip"])
def test_a_garbage_file_is_named(tmp_path, content):
    path = tmp_path / "garbage.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="not an nnkit model file") as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_an_npz_without_the_description_is_rejected(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, W1=np.zeros((2, 2)))
    with pytest.raises(ModelFileError, match="not an nnkit model file"):
        load_model(path)


def rewrite(path, change):
    """Load the arrays of a saved model file, let change() edit them, write them back."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    change(arrays)
    np.savez(path, **arrays)


def edit_description(arrays, **updates):
    metadata = json.loads(str(arrays["nnkit_model"]))
    metadata.update(updates)
    arrays["nnkit_model"] = np.array(json.dumps(metadata))


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda a: a.pop("params/W2"), "params/W2"),
        (lambda a: a.update({"params/W1": np.zeros((3, 3), np.float32)}), "params/W1"),
        (lambda a: a.update({"params/W9": np.zeros(3, np.float32)}), "params/W9"),
        (lambda a: a.update({"running_mean/1": np.zeros(2, np.float32)}), "running_mean/1"),
        (lambda a: edit_description(a, **{"class": "ConvNet"}), "ConvNet"),
        (lambda a: edit_description(a, version=99), "version"),
        (lambda a: edit_description(a, init_args={"hidden_dims": [7, 8], "colour": "red"}), "colour"),
        (lambda a: a.update({"nnkit_model": np.array("{not json")}), "description"),
    ],
    ids=["missing-param", "wrong-shape", "extra-param", "wrong-running-shape", "unknown-class",
         "future-version", "bad-init-args", "broken-json"],
)
def test_an_inconsistent_file_is_rejected_with_the_reason(tmp_path, change, fragment):
    path = save_model(trained_batchnorm_net(), tmp_path / "model.npz")
    rewrite(path, change)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert str(path) in message and fragment in message
