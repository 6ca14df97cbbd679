"""Frozen layers (``trainable = False``, as in Keras): no update, no weight decay, no L1/L2 step or penalty and no
optimizer state for their parameters, while the gradient still flows through them to the layers before."""
import numpy as np
import pytest

import fastnn
from fastnn import _kernels
from fastnn.rl import ReplayBuffer

OPTIMIZERS = {
    "sgd-momentum-decay": lambda: fastnn.SGD(lr=0.05, momentum=0.9, weight_decay=1e-2),
    "sgd-nesterov": lambda: fastnn.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda: fastnn.Adam(1e-2, weight_decay=1e-2),
    "adam-amsgrad": lambda: fastnn.Adam(1e-2, amsgrad=True),
    "adamw": lambda: fastnn.AdamW(1e-2, weight_decay=0.1),
    "rmsprop": lambda: fastnn.RMSprop(1e-2, momentum=0.5, weight_decay=1e-3),
}


def mlp(dtype="float64", seed=0):
    return fastnn.Sequential([fastnn.Dense(6, 32, "relu"), fastnn.Dropout(0.2), fastnn.Dense(32, 24, "tanh"),
                              fastnn.Dense(24, 3, "softmax")], seed=seed, dtype=dtype)


def cnn(dtype="float64", seed=0):
    return fastnn.Sequential([fastnn.Reshape((2, 6, 6)), fastnn.Conv2D(2, 4, 3, padding="same", activation="relu"),
                              fastnn.MaxPool2D(2), fastnn.Conv2D(4, 5, 2, activation="elu"), fastnn.Flatten(),
                              fastnn.Dense(20, 3, "softmax")], seed=seed, dtype=dtype)


@pytest.fixture
def data(rng):
    X = rng.normal(size=(96, 6))
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)


def _ranges(model):
    """{layer index: slice of its parameters in model.parameters}."""
    out, offset = {}, 0
    for i, layer in enumerate(model.layers):
        if getattr(layer, "weight", None) is not None:
            out[i] = slice(offset, offset + layer.n_params)
            offset += layer.n_params
    return out


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("frozen", [0, 2, 3])
def test_a_frozen_layer_stays_bit_identical_and_keeps_no_optimizer_state(name, frozen, data):
    X, y = data
    model = mlp().compile("cross_entropy", OPTIMIZERS[name](), regularizer=fastnn.L1L2(l1=1e-3, l2=1e-2))
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)  # trained a while before, with optimizer state
    model.compile("cross_entropy", OPTIMIZERS[name](), regularizer=fastnn.L1L2(l1=1e-3, l2=1e-2))
    model.layers[frozen].trainable = False
    before = model.parameters.copy()
    model.fit(X, y, epochs=3, batch_size=16, verbose=0)
    model.train_on_batch(X[:10], y[:10])
    ranges = _ranges(model)
    part = ranges[frozen]
    np.testing.assert_array_equal(model.parameters[part], before[part])
    assert np.all(model._state[:, part] == 0)  # no momentum, no moments
    for i, r in ranges.items():
        if i != frozen:
            assert not np.array_equal(model.parameters[r], before[r]), f"layer {i} did not train"
            assert np.any(model._state[:, r] != 0)


def test_a_frozen_conv_layer(rng):
    X = rng.normal(size=(40, 72))
    y = rng.integers(0, 3, 40)
    model = cnn().compile("cross_entropy", fastnn.SGD(lr=0.05, momentum=0.9, weight_decay=1e-2),
                          regularizer=fastnn.L2(1e-2))
    model.layers[1].trainable = False
    before = model.parameters.copy()
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    ranges = _ranges(model)
    np.testing.assert_array_equal(model.parameters[ranges[1]], before[ranges[1]])
    assert np.all(model._state[:, ranges[1]] == 0)
    for i in (3, 5):
        assert not np.array_equal(model.parameters[ranges[i]], before[ranges[i]])


@pytest.mark.parametrize("build", [mlp, cnn], ids=["mlp", "cnn"])
@pytest.mark.parametrize("opt", ["sgd-momentum-decay", "adam"])
def test_frozen_training_is_bit_identical_for_any_thread_count(build, opt, rng, many_cores):
    X = rng.normal(size=(200, 6 if build is mlp else 72))
    y = rng.integers(0, 3, 200)
    results = []
    for nt in (1, 2, 4):
        model = build().compile("cross_entropy", OPTIMIZERS[opt](), regularizer=fastnn.L2(1e-3))
        model.layers[1 if build is cnn else 2].trainable = False
        model.fit(X, y, epochs=2, batch_size=64, n_threads=nt, verbose=0)
        results.append((model.parameters.copy(), model._state.copy()))
    for params, state in results[1:]:
        np.testing.assert_array_equal(params, results[0][0])
        np.testing.assert_array_equal(state, results[0][1])


@pytest.mark.parametrize("frozen", [0, 2, 3])
def test_the_gradient_flows_through_a_frozen_layer(frozen, data):
    """The other layers' gradients and updates are exactly those of the unfrozen model."""
    X, y = data
    free, held = (mlp().compile("cross_entropy", fastnn.SGD(lr=0.1, momentum=0.9), regularizer=fastnn.L2(1e-2))
                  for _ in range(2))
    held.layers[frozen].trainable = False
    part = _ranges(held)[frozen]
    loss_free, grad_free = free.loss_and_gradient(X, y)
    loss_held, grad_held = held.loss_and_gradient(X, y)
    assert np.all(grad_held[part] == 0)  # documented: a frozen layer's entries are 0
    others = np.ones(held.n_params, bool)
    others[part] = False
    np.testing.assert_array_equal(grad_held[others], grad_free[others])
    # its weights add no penalty (as in Keras); the data loss is the same
    penalty = 0.5 * 1e-2 * float(np.sum(np.square(held.layers[frozen].weight, dtype=np.float64)))
    assert loss_held == pytest.approx(loss_free - penalty, rel=1e-12)
    assert held.penalty() == pytest.approx(free.penalty() - penalty, rel=1e-12)
    assert held.evaluate(X, y)["loss"] == pytest.approx(free.evaluate(X, y)["loss"] - penalty, rel=1e-12)
    free.train_on_batch(X, y)
    held.train_on_batch(X, y)
    np.testing.assert_array_equal(held.parameters[others], free.parameters[others])


def test_a_stale_gradient_of_a_frozen_layer_is_not_reported(data):
    X, y = data
    model = mlp().compile("cross_entropy")
    model.loss_and_gradient(X, y)  # fills every gradient
    model.layers[0].trainable = False
    _, grad = model.loss_and_gradient(X, y)
    assert np.all(grad[_ranges(model)[0]] == 0)


def test_unfreezing_later(data):
    X, y = data
    model = mlp().compile("cross_entropy", fastnn.Adam(1e-2))
    model.layers[0].trainable = False
    model.fit(X, y, epochs=1, batch_size=16, verbose=0)
    part = _ranges(model)[0]
    frozen_weights = model.parameters[part].copy()
    model.layers[0].trainable = True
    twin = mlp().compile("cross_entropy", fastnn.Adam(1e-2))  # the same state, never frozen
    twin.parameters[...], twin._state[...], twin._step[...] = model.parameters, model._state, model._step
    twin._rng.bit_generator.state = model._rng.bit_generator.state
    model.fit(X, y, epochs=1, batch_size=16, verbose=0)
    twin.fit(X, y, epochs=1, batch_size=16, verbose=0)
    assert not np.array_equal(model.parameters[part], frozen_weights)
    np.testing.assert_array_equal(model.parameters, twin.parameters)


def test_a_callback_freezes_and_unfreezes_between_epochs(data):
    X, y = data

    class Schedule(fastnn.callbacks.Callback):
        def on_epoch_begin(self, model, epoch, logs):
            model.layers[0].trainable = epoch != 1  # frozen in the second epoch only

    model = mlp().compile("cross_entropy", fastnn.SGD(lr=0.1, momentum=0.9))
    seen = []

    class Watch(fastnn.callbacks.Callback):
        def on_epoch_end(self, model, epoch, logs):
            seen.append(model.layers[0].weight.copy())

    model.fit(X, y, epochs=3, batch_size=16, callbacks=[Schedule(), Watch()], verbose=0)
    np.testing.assert_array_equal(seen[1], seen[0])
    assert not np.array_equal(seen[2], seen[1])


def test_every_layer_frozen_trains_nothing(data):
    X, y = data
    model = mlp().compile("cross_entropy", fastnn.SGD(lr=0.1, momentum=0.9), regularizer=fastnn.L1(1e-2))
    for layer in model.layers:
        layer.trainable = False
    before = model.parameters.copy()
    history = model.fit(X, y, epochs=2, batch_size=16, verbose=0)
    np.testing.assert_array_equal(model.parameters, before)
    assert np.all(model._state == 0) and model.penalty() == 0 and len(history["loss"]) == 2


def test_summary_counts_trainable_and_non_trainable_params():
    model = mlp(dtype="float32")
    model.layers[0].trainable = False
    text = str(model)
    assert "Total params: 1,091 (float32)\nTrainable params: 867\nNon-trainable params: 224" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("dense")}
    assert rows["dense"].endswith("224 (frozen)") and rows["dense_1"].rstrip().endswith("792")
    model.layers[0].trainable = True
    assert "Trainable params: 1,091\nNon-trainable params: 0" in str(model) and "(frozen)" not in str(model)


def test_trainable_must_be_a_bool():
    layer = fastnn.Dense(3, 2)
    with pytest.raises(TypeError, match="trainable must be True or False"):
        layer.trainable = "no"
    assert layer.trainable is True
    layer.trainable = np.bool_(False)
    assert layer.trainable is False


def test_files_and_checkpoints_keep_the_flag(tmp_path, data):
    X, y = data
    model = mlp().compile("cross_entropy", fastnn.Adam(1e-2))
    model.layers[2].trainable = False
    model.layers[1].trainable = False  # a layer without parameters keeps it too
    model.fit(X, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "m.fastnn")
    back = fastnn.load(tmp_path / "m.fastnn")
    assert [l.trainable for l in back.layers] == [True, False, False, True]
    assert str(back) == str(model)
    model.fit(X, y, epochs=1, batch_size=16, verbose=0)
    back.fit(X, y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(back.parameters, model.parameters)
    # a checkpointed run whose callback froze a layer resumes frozen, as the uninterrupted run continues
    class FreezeFromSecond(fastnn.callbacks.Callback):
        def on_epoch_begin(self, model, epoch, logs):
            if epoch >= 1:
                model.layers[0].trainable = False

    ck = tmp_path / "ck.fastnn"
    first = mlp().compile("cross_entropy", fastnn.Adam(1e-2))
    first.fit(X, y, epochs=2, batch_size=16, verbose=0, checkpoint=ck, callbacks=[FreezeFromSecond()])
    assert fastnn.load(ck).layers[0].trainable is False
    resumed = mlp().compile("cross_entropy", fastnn.Adam(1e-2))
    resumed.fit(X, y, epochs=4, batch_size=16, verbose=0, checkpoint=ck, resume=True)  # no callback
    straight = mlp().compile("cross_entropy", fastnn.Adam(1e-2))
    straight.fit(X, y, epochs=4, batch_size=16, verbose=0, callbacks=[FreezeFromSecond()])
    assert resumed.layers[0].trainable is False
    np.testing.assert_array_equal(resumed.parameters, straight.parameters)


def test_fine_tuning_a_classifier_on_a_frozen_encoder(rng):
    X = rng.random((200, 12)).astype(np.float32)
    y = (X[:, :6].sum(axis=1) > X[:, 6:].sum(axis=1)).astype(np.int64)
    ae = fastnn.Autoencoder([12, 8, 4], output_activation="sigmoid", seed=0).compile("mse", fastnn.Adam(1e-2))
    ae.fit(X, epochs=3, batch_size=32, verbose=0)
    clf = fastnn.Sequential([fastnn.Dense(12, 8, "relu"), fastnn.Dense(8, 4), fastnn.Dense(4, 2, "softmax")], seed=1)
    clf.set_weights(ae.get_weights()[:4] + clf.get_weights()[4:])
    for layer in clf.layers[:2]:
        layer.trainable = False
    clf.compile("cross_entropy", fastnn.Adam(1e-2))
    clf.fit(X, y, epochs=5, batch_size=32, verbose=0)
    for a, b in zip(clf.get_weights()[:4], ae.get_weights()[:4]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(clf.predict(X, layer=1), ae.encode(X))


def test_tied_layers_freeze_together(rng):
    X = rng.random((64, 10))
    ae = fastnn.Autoencoder([10, 6, 3], tied=True, seed=0, dtype="float64").compile("mse", fastnn.Adam(1e-2))
    ae.layers[0].trainable = False
    with pytest.raises(ValueError, match=r"layers\[0\] and layers\[3\] share one weight matrix.*same value"):
        ae.fit(X, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="share one weight matrix"):
        ae.train_on_batch(X)
    ae.predict(X)  # inference does not care
    ae.layers[3].trainable = False
    before = ae.parameters.copy()
    ae.fit(X, epochs=2, batch_size=16, verbose=0)
    part = slice(0, ae.layers[0].n_params)
    np.testing.assert_array_equal(ae.parameters[part], before[part])
    np.testing.assert_array_equal(ae.layers[3].weight, ae.layers[0].weight.T)
    assert not np.array_equal(ae.layers[1].weight, before[ae.layers[0].n_params:][:18].reshape(3, 6))
    assert "Trainable params: 27\nNon-trainable params: 76" in str(ae)
    _, grad = ae.loss_and_gradient(X)
    assert np.all(grad[part] == 0) and np.all(grad[-ae.layers[3].n_params:] == 0)


def test_dqn_updates_leave_a_frozen_layer_alone(rng):
    def setup():
        model = fastnn.Sequential([fastnn.Dense(5, 16, "relu"), fastnn.Dense(16, 12, "tanh"), fastnn.Dense(12, 3)],
                                  seed=0, dtype="float64").compile("huber", fastnn.Adam(lr=0.05))
        return model

    buf = ReplayBuffer(50, 5, "float64")
    for _ in range(40):
        buf.add(rng.normal(size=5) * 2, rng.normal(size=5) * 2, int(rng.integers(3)), rng.normal() * 3,
                rng.random() < 0.3)

    def run(model, clip):
        target = model.parameters * 1.1
        engine = model._engine(16)
        return _kernels.dqn_update(engine, target, buf.observations, buf.next_observations, buf.actions,
                                   buf.rewards, buf.dones, len(buf), 16, 3, 0.97, _kernels.LOSS_HUBER, False, clip,
                                   7, model._hyper(), model._step, np.zeros(16, np.int64),
                                   np.zeros((16, 3)), np.zeros(16), 1)

    a, b = setup(), setup()
    a.loss_and_gradient(buf.observations[:8], np.zeros((8, 3)))  # a's gradient buffer holds old values
    for m in (a, b):
        m.layers[0].trainable = False
    before = a.parameters.copy()
    run(a, 0.5)
    run(b, 0.5)
    part = slice(0, a.layers[0].n_params)
    np.testing.assert_array_equal(a.parameters[part], before[part])
    assert np.all(a._state[:, part] == 0)
    assert not np.array_equal(a.parameters[part.stop:], before[part.stop:])
    np.testing.assert_array_equal(a.parameters, b.parameters)  # the clipped norm counts trainable gradients only
