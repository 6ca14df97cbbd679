"""Keras's habits with fit, predict and evaluate: verbose=, initial_epoch, and batches from a generator or any
iterable with steps_per_epoch."""
import warnings

import numpy as np
import pytest

import fastnn


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def _model(seed=0):
    return fastnn.Sequential([fastnn.Dense(4, 8, activation="relu"), fastnn.Dense(8, 2, activation="softmax")],
                             seed=seed).compile(optimizer=fastnn.SGD(lr=0.1))


def test_predict_and_evaluate_take_verbose(capsys):
    X, y = _data()
    model = _model()
    np.testing.assert_array_equal(model.predict(X, verbose=1), model.predict(X))
    scores = model.evaluate(X, y, verbose=2)
    assert scores == model.evaluate(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("predict - 240 samples - ") and lines[1].startswith("evaluate - ")
    assert f"loss: {scores['loss']:.4f} - accuracy: {scores['accuracy']:.4f}" in lines[1]
    model.predict(X)
    model.evaluate(X, y, verbose=0)
    assert capsys.readouterr().out == ""
    for verbose in (3, True, "auto"):
        with pytest.raises(ValueError, match="verbose must be 0, 1 or 2"):
            model.predict(X, verbose=verbose)


def test_initial_epoch_as_keras():
    X, y = _data()
    model = _model()
    seen = []
    history = model.fit(X, y, epochs=5, initial_epoch=3, verbose=0,
                        callbacks=[fastnn.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))])
    assert history.epoch == [3, 4] and seen == [3, 4] and model.epochs_trained == 5
    # resuming a run by hand, as Keras users do: 2 epochs, then epochs 2..3, equal to 4 epochs in one call
    a, b = _model(), _model()
    a.fit(X, y, epochs=2, shuffle=False, verbose=0)
    a.fit(X, y, epochs=4, initial_epoch=2, shuffle=False, verbose=0)
    b.fit(X, y, epochs=4, shuffle=False, verbose=0)
    np.testing.assert_array_equal(a.parameters, b.parameters)
    assert model.fit(X, y, epochs=2, initial_epoch=2, verbose=0).epoch == []
    with pytest.raises(ValueError, match="initial_epoch must be >= 0"):
        model.fit(X, y, initial_epoch=-1, verbose=0)
    with pytest.raises(ValueError, match="not both"):
        model.fit(X, y, initial_epoch=1, checkpoint="x.fnn", resume=True, verbose=0)


def test_generator_with_steps_per_epoch_equals_train_on_batch():
    X, y = _data()

    def batches():
        while True:
            for i in range(0, 240, 48):
                yield X[i:i + 48], y[i:i + 48]

    model, reference = _model(), _model()
    history = model.fit(batches(), epochs=3, steps_per_epoch=5, verbose=0, validation_data=(X, y))
    losses = [np.mean([reference.train_on_batch(X[i:i + 48], y[i:i + 48]) for i in range(0, 240, 48)])
              for _ in range(3)]
    np.testing.assert_array_equal(model.parameters, reference.parameters)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-12)
    assert history.history["iterations"] == [5, 5, 5] and len(history.history["val_loss"]) == 3


def test_an_epoch_takes_the_batches_that_follow_and_a_finite_generator_runs_out():
    X, y = _data()
    drawn = []

    def batches(count):
        for i in range(count):
            drawn.append(i)
            yield X[i * 10:(i + 1) * 10], y[i * 10:(i + 1) * 10]

    model = _model()
    with pytest.warns(UserWarning, match=r"ran out of data in epoch 3 of 4 \(1 of its 3 batches\)"):
        history = model.fit(batches(7), epochs=4, steps_per_epoch=3, verbose=0)
    assert drawn == list(range(7)) and history.history["iterations"] == [3, 3, 1]  # recorded short, then stopped
    with pytest.warns(UserWarning, match="ran out of data after 2 of 3 epochs"):
        assert _model().fit(batches(6), epochs=3, steps_per_epoch=3, verbose=0).epoch == [0, 1]
    # without steps_per_epoch an epoch runs to the end; an iterable that starts again (a list, a DataLoader) does
    pairs = [(X[i:i + 60], y[i:i + 60]) for i in range(0, 240, 60)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _model().fit(pairs_iterable(pairs), epochs=3, verbose=0).history["iterations"] == [4, 4, 4]
    with pytest.warns(UserWarning, match="ran out of data after 1 of 2 epochs"):
        assert _model().fit(iter(pairs), epochs=2, verbose=0).epoch == [0]


class pairs_iterable:
    """An iterable that starts again at each iteration, as a PyTorch DataLoader."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __iter__(self):
        return iter(self.pairs)


def test_generator_batches_with_weights_hooks_and_checks():
    X, y = _data()
    model = _model()
    sizes = []
    hook = fastnn.callbacks.LambdaCallback(on_batch_end=lambda batch, logs: sizes.append(logs["size"]))
    model.fit(((X[i:i + 30], y[i:i + 30], np.ones(30)) for i in range(0, 90, 30)), callbacks=[hook],
              class_weight={0: 2.0}, verbose=0)
    assert sizes == [30, 30, 30]
    with pytest.raises(ValueError, match="y must be None"):
        model.fit((b for b in [(X, y)]), y, verbose=0)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        model.fit((b for b in [(X, y)]), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch is for batches"):
        model.fit(X, y, steps_per_epoch=3, verbose=0)
    with pytest.raises(ValueError, match="balanced"):
        model.fit((b for b in [(X, y)]), class_weight="balanced", verbose=0)
    with pytest.raises(ValueError, match=r"must give \(x, y\)"):
        model.fit((x for x in [X]), verbose=0)
    with pytest.raises(ValueError, match="label 6 outside"):
        model.fit((b for b in [(X, y + 5)]), verbose=0)
    with pytest.raises(TypeError, match="fit needs the targets y"):
        model.fit(X)
