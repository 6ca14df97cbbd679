"""Keras's and PyTorch's habits with a model's layers: add, len, indexing, iteration, call, names, get_layer,
count_params, get_config/from_config and state_dict/load_state_dict, written as those libraries' users write them."""
import copy
import json
import pickle

import numpy as np
import pytest

import fastnn


def _mlp(seed=0):
    return fastnn.Sequential([fastnn.Dense(4, 8, activation="relu"), fastnn.Dropout(0.2),
                              fastnn.Dense(8, 3, activation="softmax")], seed=seed)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1)


def test_keras_add_builds_the_same_model_as_the_list():
    model = fastnn.Sequential(seed=0)
    model.add(fastnn.Dense(4, 8, activation="relu"))
    model.add(fastnn.Dropout(0.2))
    model.add(fastnn.Dense(8, 3, activation="softmax"))
    reference = _mlp()
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    X, y = _data()
    model.compile(optimizer="adam")
    reference.compile(optimizer="adam")
    model.fit(X, y, epochs=2, batch_size=16, verbose=0)
    reference.fit(X, y, epochs=2, batch_size=16, verbose=0)
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))


def test_add_keeps_trained_weights_and_optimizer_state():
    X, y = _data()
    model = fastnn.Sequential([fastnn.Dense(4, 8, activation="relu")], seed=0).compile(loss="mse", optimizer="adam")
    model.fit(X, np.ones((64, 8)), epochs=1, verbose=0)
    before, state = model.get_weights(), model.optimizer_state.copy()
    model.add(fastnn.Dense(8, 2))
    np.testing.assert_array_equal(model.layers[0].weight, before[0])
    np.testing.assert_array_equal(model.optimizer_state[:, :state.shape[1]], state)
    assert model.optimizer_state.shape == (state.shape[0], model.count_params())
    model.fit(X, np.zeros((64, 2)), epochs=1, verbose=0)


def test_add_refuses_before_changing_anything():
    model = _mlp()
    weights = model.get_weights()
    with pytest.raises(ValueError, match="cannot take"):
        model.add(fastnn.Dense(5, 2))
    with pytest.raises(ValueError, match="already belongs to a model"):
        model.add(_mlp().layers[0])
    with pytest.raises(TypeError, match="layer must be"):
        model.add("dense")
    with pytest.raises(ValueError, match="named 'dense'"):
        model.add(fastnn.Dense(3, 2, name="dense"))
    model.compile(loss="cross_entropy")
    with pytest.raises(ValueError, match="softmax"):
        model.add(fastnn.Dense(3, 2, activation="relu"))  # the compiled loss needs a softmax output
    assert len(model) == 3 and all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    with pytest.raises(TypeError, match="fixed by its widths"):
        fastnn.Autoencoder([4, 2]).add(fastnn.Dense(4, 4))


def test_a_model_without_layers_says_what_to_do():
    model = fastnn.Sequential()
    assert len(model) == 0 and list(model) == []
    with pytest.raises(AttributeError, match=r"model.add\(layer\)"):
        model.predict(np.zeros((2, 4)))
    model.add(fastnn.Dropout(0.1))  # kept until the first Dense
    model.add(fastnn.Dense(4, 2))
    assert model.predict(np.zeros((2, 4))).shape == (2, 2)
    assert pickle.loads(pickle.dumps(fastnn.Sequential())).layers == []


def test_a_last_dropout_waits_for_the_output_layer():
    model = fastnn.Sequential([fastnn.Dense(4, 8, activation="relu")]).compile(loss="mse")
    model.add(fastnn.Dropout(0.5))
    with pytest.raises(ValueError, match="last layer is a Dropout"):
        model.fit(np.zeros((4, 4)), np.zeros((4, 8)), verbose=0)
    model.add(fastnn.Dense(8, 1))
    model.fit(np.zeros((4, 4)), np.zeros((4, 1)), verbose=0)


def test_images_model_built_by_add():
    model = fastnn.Sequential(input_shape=(1, 8, 8), seed=0)
    for layer in (fastnn.Conv2D(1, 2, 3, activation="relu"), fastnn.MaxPool2D(2), fastnn.Flatten(),
                  fastnn.Dense(18, 2, activation="softmax")):
        model.add(layer)
    assert model.predict(np.zeros((3, 8, 8))).shape == (3, 2)
    assert [layer.name for layer in model] == ["conv2d", "max_pool2d", "flatten", "dense"]


def test_len_getitem_iter_and_call():
    model = _mlp()
    assert len(model) == 3
    assert model[0] is model.layers[0] and model[-1] is model.layers[2]
    assert model[1:] == model.layers[1:]
    assert [layer for layer in model] == model.layers
    with pytest.raises(IndexError, match="3 layers"):
        model[3]
    with pytest.raises(TypeError, match="get_layer"):
        model["dense"]
    X, _ = _data()
    np.testing.assert_array_equal(model(X), model.predict(X))
    with pytest.raises(ValueError, match="training=True"):
        model(X, training=True)


def test_names_are_unique_keras_defaults_and_settable():
    model = fastnn.Sequential([fastnn.Dense(4, 8, name="hidden"), fastnn.Dense(8, 8), fastnn.Dropout(0.1),
                               fastnn.Dense(8, 2), fastnn.BatchNorm1d(2)])
    assert [layer.name for layer in model] == ["hidden", "dense", "dropout", "dense_1", "batch_norm1d"]
    assert model.get_layer("hidden") is model.layers[0]
    assert model.get_layer(index=-1) is model.layers[-1]
    model.layers[1].name = "middle"
    assert model.get_layer("middle") is model.layers[1]
    with pytest.raises(ValueError, match="named 'hidden' already"):
        model.layers[1].name = "hidden"
    with pytest.raises(TypeError, match="non-empty string"):
        model.layers[1].name = ""
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="name or its index"):
        model.get_layer("hidden", index=0)
    with pytest.raises(ValueError, match="unique"):
        fastnn.Sequential([fastnn.Dense(4, 4, name="a"), fastnn.Dense(4, 4, name="a")])
    assert copy.deepcopy(model).get_layer("middle").weight.shape == (8, 8)


def test_count_params_as_keras():
    model = fastnn.Sequential([fastnn.Dense(4, 8), fastnn.BatchNorm1d(8), fastnn.Dense(8, 2)])
    assert model.count_params() == (4 * 8 + 8) + 2 * 8 + (8 * 2 + 2)  # running statistics are not parameters
    model.layers[0].trainable = False
    assert model.count_params() == model.n_params
    tied = fastnn.Autoencoder([6, 3], tied=True)
    assert tied.count_params() == 6 * 3 + 3 + 6  # the shared matrix counts once


@pytest.mark.parametrize("build", [
    lambda: _mlp(seed=3),
    lambda: fastnn.Sequential([fastnn.Conv2D(1, 4, 3, padding="same", activation="relu"), fastnn.BatchNorm2d(4),
                               fastnn.MaxPool2D(2), fastnn.Flatten(), fastnn.Dense(4 * 4 * 4, 2, name="out")],
                              input_shape=(1, 8, 8), dtype="float64", seed=1),
    lambda: fastnn.Sequential([fastnn.Embedding(10, 4), fastnn.GRU(4, 5, return_sequences=True),
                               fastnn.LSTM(5, 3), fastnn.Dense(3, 1, activation="sigmoid")]),
    lambda: fastnn.Autoencoder([6, 4, 2], output_activation="sigmoid", tied=True, seed=0),
])
def test_get_config_from_config_round_trip(build):
    model = build()
    if not isinstance(model, fastnn.Autoencoder):  # an autoencoder's config is its constructor's arguments
        model.layers[0].trainable = False
    config = model.get_config()
    rebuilt = type(model).from_config(json.loads(json.dumps(config)))  # plain JSON values
    assert rebuilt.get_config() == config
    assert repr(rebuilt) == repr(model)
    assert [layer.name for layer in rebuilt] == [layer.name for layer in model]
    assert [layer.trainable for layer in rebuilt] == [layer.trainable for layer in model]
    if model.seed is not None:  # the same seed draws the same weights
        for a, b in zip(rebuilt.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_from_config_refuses_unknown_layers():
    with pytest.raises(ValueError, match="unknown layer class 'Conv3D'"):
        fastnn.Sequential.from_config({"layers": [{"class_name": "Conv3D", "config": {}}]})
    with pytest.raises(TypeError, match="'layers'"):
        fastnn.Sequential.from_config([1, 2])


def test_state_dict_names_and_round_trip_as_pytorch():
    X, y = _data()
    model = fastnn.Sequential([fastnn.Dense(4, 8), fastnn.BatchNorm1d(8, activation="relu"), fastnn.Dropout(0.1),
                               fastnn.Dense(8, 3, activation="softmax")], seed=0).compile(optimizer="adam")
    model.fit(X, y, epochs=2, batch_size=16, verbose=0)
    sd = model.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "3.weight", "3.bias"]
    np.testing.assert_array_equal(sd["1.running_var"], model.layers[1].running_var)
    np.testing.assert_array_equal(sd["1.weight"], model.layers[1].weight)
    sd["0.weight"][...] = 0  # a snapshot: the model is unchanged
    assert np.any(model.layers[0].weight != 0)
    other = fastnn.Sequential([fastnn.Dense(4, 8), fastnn.BatchNorm1d(8, activation="relu"), fastnn.Dropout(0.1),
                               fastnn.Dense(8, 3, activation="softmax")], seed=1)
    result = other.load_state_dict(model.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(other.predict(X), model.predict(X))


def test_recurrent_state_dict_uses_pytorch_names():
    model = fastnn.Sequential([fastnn.LSTM(3, 4), fastnn.Dense(4, 2)], input_shape=(5, 3), seed=0)
    sd = model.state_dict()
    assert {k: v.shape for k, v in sd.items()} == {
        "0.weight_ih_l0": (16, 3), "0.weight_hh_l0": (16, 4), "0.bias_ih_l0": (16,), "0.bias_hh_l0": (16,),
        "1.weight": (2, 4), "1.bias": (2,)}
    np.testing.assert_array_equal(sd["0.weight_hh_l0"], model.layers[0].weight_hh)
    other = fastnn.Sequential([fastnn.LSTM(3, 4), fastnn.Dense(4, 2)], input_shape=(5, 3), seed=1)
    other.load_state_dict(sd)
    X = np.random.default_rng(0).normal(size=(2, 5, 3))
    np.testing.assert_array_equal(other.predict(X), model.predict(X))


def test_load_state_dict_checks_everything_first():
    model = _mlp()
    weights = model.get_weights()
    good = _mlp(seed=1).state_dict()
    with pytest.raises(ValueError, match=r"missing key\(s\) \['2.bias'\]"):
        model.load_state_dict({k: v for k, v in good.items() if k != "2.bias"})
    with pytest.raises(ValueError, match=r"unexpected key\(s\) \['5.weight'\]"):
        model.load_state_dict({**good, "5.weight": np.zeros(3)})
    with pytest.raises(ValueError, match=r"state_dict\['2.weight'\] has shape \(8, 3\)"):
        model.load_state_dict({**good, "2.weight": good["2.weight"].T})
    with pytest.raises(ValueError, match="NaN"):
        model.load_state_dict({**good, "2.bias": np.full(3, np.nan)})
    with pytest.raises(TypeError, match="mapping"):
        model.load_state_dict([1])
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # strict=False: loads what matches and reports the rest, as PyTorch
    result = model.load_state_dict({"0.weight": good["0.weight"], "9.bias": np.zeros(1),
                                    "1.num_batches_tracked": 7}, strict=False)
    assert result.missing_keys == ["0.bias", "2.weight", "2.bias"] and result.unexpected_keys == ["9.bias"]
    np.testing.assert_array_equal(model.layers[0].weight, good["0.weight"])
    np.testing.assert_array_equal(model.layers[2].weight, weights[2])


def test_state_dict_loads_into_torch_and_back():
    torch = pytest.importorskip("torch")
    model = fastnn.Sequential([fastnn.Dense(4, 8), fastnn.Dense(8, 3)], dtype="float64", seed=0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 3)).double()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    X, _ = _data()
    np.testing.assert_allclose(net(torch.from_numpy(X.astype(np.float64))).detach().numpy(),
                               model.predict(X), rtol=1e-12, atol=1e-12)
    back = fastnn.Sequential([fastnn.Dense(4, 8), fastnn.Dense(8, 3)], dtype="float64", seed=5)
    back.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(back.predict(X), model.predict(X))


def test_names_are_saved_with_the_model(tmp_path):
    model = fastnn.Sequential([fastnn.Dense(4, 8, name="encoder"), fastnn.Dense(8, 2)])
    model.save(tmp_path / "m.fnn")
    loaded = fastnn.load(tmp_path / "m.fnn")
    assert [layer.name for layer in loaded] == ["encoder", "dense"]
    assert loaded.get_layer("encoder").weight.shape == (8, 4)


def test_layer_norm_tensors_have_pytorchs_names():
    model = fastnn.Sequential([fastnn.Dense(5, 8), fastnn.LayerNorm(8), fastnn.Dense(8, 1)], seed=0)
    sd = model.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]
    assert sd["1.weight"].shape == (8,) and np.all(sd["1.weight"] == 1) and np.all(sd["1.bias"] == 0)
    sd["1.weight"] = np.full(8, 2.0)
    other = fastnn.Sequential([fastnn.Dense(5, 8), fastnn.LayerNorm(8), fastnn.Dense(8, 1)], seed=1)
    other.load_state_dict(sd)
    np.testing.assert_array_equal(other.layers[1].weight, 2.0)
    bare = fastnn.Sequential([fastnn.Dense(5, 8), fastnn.LayerNorm(8, elementwise_affine=False)], seed=0)
    assert list(bare.state_dict()) == ["0.weight", "0.bias"]
