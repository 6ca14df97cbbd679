"""Dropout: counter-based masks (kernel against its NumPy twin), keep rate, thread-count invariance, inference
unaffected, gradients with a fixed mask, model files, checkpoints and resume."""
import numpy as np
import pytest

import fastnn
from fastnn import _kernels
from fastnn import _reference as ref


def make(p=0.3, dtype="float32", seed=0, input_p=None, act="relu"):
    layers = ([fastnn.Dropout(input_p)] if input_p else []) + [
        fastnn.Dense(12, 130, act), fastnn.Dropout(p), fastnn.Dense(130, 70, "tanh"), fastnn.Dropout(p / 2),
        fastnn.Dense(70, 4, "softmax")]
    return fastnn.Sequential(layers, seed=seed, dtype=dtype)


@pytest.fixture
def data(rng):
    X = rng.normal(size=(300, 12)).astype(np.float32)
    return X, (X[:, :4] ** 2).argmax(axis=1)


def test_mask_kernel_equals_its_twin():
    for args in ((0, 0, 0, 3, 5, 0.5), (123, 456, 2, 17, 33, 0.1), (2 ** 63, 10 ** 12, 1, 4, 9, 0.9)):
        np.testing.assert_array_equal(_kernels.dropout_mask(*args), ref.dropout_mask(*args))


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_keep_rate_over_a_million_units(rate):
    mask = _kernels.dropout_mask(7, 11, 1, 1000, 1000, rate)
    assert abs(mask.mean() - (1 - rate)) < 0.01 * (1 - rate)
    # the next update's mask is independent of this one: they differ where one keeps and the other drops
    other = _kernels.dropout_mask(7, 12, 1, 1000, 1000, rate)
    assert abs(np.mean(mask != other) - 2 * rate * (1 - rate)) < 0.005
    assert not np.array_equal(mask[0], mask[1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [1, 37, 128])
def test_identical_weights_for_any_thread_count(dtype, batch, data, many_cores):
    X, y = data
    results = []
    for nt in (1, 2, 3):
        m = make(dtype=dtype, input_p=0.1).compile("cross_entropy", fastnn.Adam(lr=1e-2))
        m.fit(X, y, epochs=2, batch_size=batch, n_threads=nt, verbose=0)
        results.append(m.parameters.copy())
    for params in results[1:]:
        np.testing.assert_array_equal(params, results[0])


def test_dropout_changes_training_but_not_inference(data):
    X, y = data
    plain = fastnn.Sequential([fastnn.Dense(12, 130, "relu"), fastnn.Dense(130, 70, "tanh"),
                               fastnn.Dense(70, 4, "softmax")], seed=0).compile("cross_entropy")
    dropped = make().compile("cross_entropy")
    np.testing.assert_array_equal(plain.parameters, dropped.parameters)  # same seed, same weights
    np.testing.assert_array_equal(dropped.predict(X), plain.predict(X))
    np.testing.assert_array_equal(dropped.predict(X[:1]), plain.predict(X[:1]))
    assert dropped.evaluate(X, y) == plain.evaluate(X, y)
    plain.fit(X, y, epochs=1, batch_size=32, verbose=0)
    dropped.fit(X, y, epochs=1, batch_size=32, verbose=0)
    assert not np.array_equal(plain.parameters, dropped.parameters)


def test_training_with_dropout_equals_the_reference_with_the_same_masks(rng):
    """One full-batch SGD step: the engine's update equals NumPy's with the masks of the twin generator."""
    X = rng.normal(size=(9, 12))
    y = rng.integers(0, 4, 9)
    m = make(p=0.4, dtype="float64", seed=3, input_p=0.2, act="sigmoid").compile("cross_entropy",
                                                                                  fastnn.SGD(lr=0.5))
    W = m.get_weights()
    seed = m._dropout_seed
    masks = {i: ref.dropout_mask(seed, 0, i, 9, w, r) / (1 - r)
             for i, (w, r) in enumerate(zip(m.widths, m._dropout)) if r > 0}
    a = X * masks[0]
    acts = [ref.SIGMOID, ref.TANH, ref.SOFTMAX]
    inputs, outs = [a], []
    for l in range(3):
        z = a @ W[2 * l].T + W[2 * l + 1]
        out = ref.activation_forward(acts[l], z) if l < 2 else z
        outs.append(out)
        a = out * masks[l + 1] if l + 1 in masks else out
        inputs.append(a)
    _, _, _, d = ref.output_loss(ref.CROSS_ENTROPY, ref.SOFTMAX, outs[2], labels=y)
    grads = [None] * 6
    for l in (2, 1, 0):
        grads[2 * l], grads[2 * l + 1] = d.T @ inputs[l], d.sum(axis=0)
        if l:
            d = d @ W[2 * l]
            d = d * masks[l] if l in masks else d
            d = ref.activation_backward(acts[l - 1], outs[l - 1], d)
    m.fit(X, y, batch_size=9, shuffle=False, verbose=0)
    expected = [w - 0.5 * g for w, g in zip(W, grads)]
    for got, want in zip(m.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_gradient_with_a_fixed_mask(rng, numeric_gradient):
    """loss_and_gradient uses the masks of the next update (it does not advance the count): finite
    differences of that loss match its gradient."""
    X = rng.normal(size=(6, 12))
    y = rng.integers(0, 4, 6)
    m = make(p=0.5, dtype="float64", input_p=0.3, act="gelu").compile("cross_entropy",
                                                                       regularizer=fastnn.L2(0.01))
    loss, grad = m.loss_and_gradient(X, y)
    idx = rng.choice(m.n_params, 120, replace=False)
    np.testing.assert_allclose(grad[idx], numeric_gradient(m, X, y, indices=idx)[idx], rtol=1e-5, atol=1e-8)
    assert m.loss_and_gradient(X, y)[0] == loss


def test_checkpoint_and_resume_with_adam_and_dropout_are_bit_identical(tmp_path, data):
    X, y = data

    def model():
        return make(input_p=0.1).compile("cross_entropy", fastnn.Adam(lr=3e-3))

    whole = model()
    whole.fit(X, y, epochs=4, batch_size=32, verbose=0)
    path = tmp_path / "ck.fnn"
    model().fit(X, y, epochs=2, batch_size=32, verbose=0, checkpoint=path)
    resumed = model()
    resumed.fit(X, y, epochs=4, batch_size=32, verbose=0, checkpoint=path, resume=True)
    np.testing.assert_array_equal(resumed.parameters, whole.parameters)
    loaded = fastnn.load(path)
    assert [repr(layer) for layer in loaded.layers] == [repr(layer) for layer in whole.layers]
    assert loaded._dropout_seed == whole._dropout_seed


def test_unseeded_models_keep_their_dropout_key_in_files(tmp_path, data):
    X, y = data
    m = make(seed=None).compile("cross_entropy")
    m.save(tmp_path / "m.fnn")
    back = fastnn.load(tmp_path / "m.fnn")
    m.fit(X, y, epochs=1, batch_size=50, shuffle=False, verbose=0)
    back.fit(X, y, epochs=1, batch_size=50, shuffle=False, verbose=0)
    np.testing.assert_array_equal(back.parameters, m.parameters)


def test_dropout_fights_overfitting(rng):
    """A wide network on few noisy samples: dropout keeps the validation loss lower."""
    X = rng.normal(size=(200, 20)).astype(np.float32)
    y = (X[:, 0] + 0.8 * rng.normal(size=200) > 0).astype(int)
    scores = {}
    for p in (0.0, 0.5):
        m = fastnn.Sequential([fastnn.Dense(20, 256, "relu"), fastnn.Dropout(p), fastnn.Dense(256, 256, "relu"),
                               fastnn.Dropout(p), fastnn.Dense(256, 2, "softmax")], seed=1)
        m.compile("cross_entropy", fastnn.Adam(lr=3e-3))
        h = m.fit(X[:100], y[:100], epochs=60, batch_size=20, validation_data=(X[100:], y[100:]), verbose=0)
        scores[p] = (h["val_loss"][-1], h["loss"][-1])
    assert scores[0.5][0] < scores[0.0][0] and scores[0.0][1] < scores[0.5][1]


@pytest.mark.parametrize("layers, match", [
    (lambda: [fastnn.Dense(3, 2, "softmax"), fastnn.Dropout(0.2)], "last layer is a Dropout"),
    (lambda: [fastnn.Dense(3, 4), fastnn.Dropout(0.2), fastnn.Dropout(0.1), fastnn.Dense(4, 2)], "right after"),
    (lambda: [fastnn.Dropout(0.2)], "Dropout"),
])
def test_bad_stacks_are_refused(layers, match):
    with pytest.raises(ValueError, match=match):
        fastnn.Sequential(layers())


@pytest.mark.parametrize("p, exc", [(1.0, ValueError), (-0.1, ValueError), (float("nan"), ValueError),
                                    ("0.5", TypeError)])
def test_bad_rates_are_refused(p, exc):
    with pytest.raises(exc, match="p must"):
        fastnn.Dropout(p)
