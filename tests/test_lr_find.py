"""fastnn.lr_find: the learning-rate range test (Leslie Smith; fastai's lr_find), run through train_on_batch and
leaving no trace on the model."""
import copy

import numpy as np
import pytest

import fastnn


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    return X, (X[:, 0] - X[:, 1] > 0).astype(np.int64)


def _model(optimizer=None):
    return fastnn.Sequential([fastnn.Dense(6, 16), fastnn.BatchNorm1d(16, activation="relu"),
                              fastnn.Dense(16, 2, activation="softmax")], seed=0).compile(
        optimizer=optimizer or fastnn.Adam(lr=fastnn.schedules.CosineDecay(1e-2, decay_steps=50)))


def test_losses_are_fastais_smoothed_train_on_batch_losses():
    X, y = _data()
    model = _model(fastnn.SGD(lr=0.1, momentum=0.9))
    reference = copy.deepcopy(model)
    result = fastnn.lr_find(model, X, y, start_lr=1e-5, end_lr=1.0, num_iter=30, batch_size=50, stop_div=False,
                            seed=3)
    rates = 1e-5 * (1.0 / 1e-5) ** (np.arange(30) / 29)
    np.testing.assert_allclose(result.lrs, rates, rtol=1e-12)
    assert result.lrs[0] == 1e-5 and abs(result.lrs[-1] - 1.0) < 1e-12
    order = np.concatenate([np.random.default_rng(3).permutation(400) for _ in range(4)])
    average, expected = 0.0, []
    for i, rate in enumerate(rates):  # the same updates by hand, as a fastai user would write the test
        reference.optimizer.lr = rate
        take = order[i * 50:(i + 1) * 50]
        average = 0.98 * average + 0.02 * reference.train_on_batch(X[take], y[take])
        expected.append(average / (1 - 0.98 ** (i + 1)))
    np.testing.assert_allclose(result.losses, expected, rtol=1e-12)
    assert result.suggestion == result.lrs[np.argmin(result.losses)] / 10 and result.method == "minimum"
    steep = fastnn.lr_find(model, X, y, start_lr=1e-5, end_lr=1.0, num_iter=30, batch_size=50, stop_div=False,
                           seed=3, suggest="steepest")
    lo, hi = 3, 25  # fastai's steep: gradients against log(lr), without the first tenth and the last five
    slopes = np.diff(steep.losses[lo:hi]) / np.diff(np.log(steep.lrs[lo:hi]))
    assert steep.suggestion == steep.lrs[lo + np.argmin(slopes)]


def test_the_model_is_left_as_it_was():
    X, y = _data()
    model, twin = _model(), _model()
    model.fit(X, y, epochs=1, batch_size=40, verbose=0)
    twin.fit(X, y, epochs=1, batch_size=40, verbose=0)
    schedule = model.optimizer.lr
    result = fastnn.lr_find(model, X, y, num_iter=50)
    assert len(result.lrs) > 5
    assert model.optimizer.lr is schedule
    np.testing.assert_array_equal(model.parameters, twin.parameters)
    np.testing.assert_array_equal(model.optimizer_state, twin.optimizer_state)
    np.testing.assert_array_equal(model.layers[1].running_var, twin.layers[1].running_var)
    # and training goes on exactly as if lr_find had not run (update count, schedule, shuffles)
    model.fit(X, y, epochs=1, batch_size=40, verbose=0)
    twin.fit(X, y, epochs=1, batch_size=40, verbose=0)
    np.testing.assert_array_equal(model.parameters, twin.parameters)


def test_stops_when_the_loss_diverges_and_the_scaler_is_used():
    X, y = _data()
    model = _model(fastnn.SGD(lr=0.1))
    model.scaler = fastnn.StandardScaler().fit(X * 100)
    before = model.predict(X * 100)
    result = fastnn.lr_find(model, X * 100, y, start_lr=1e-4, end_lr=1e6, num_iter=100)
    assert 5 < len(result.lrs) < 100  # stopped early: the smoothed loss passed 4x its minimum, or became NaN
    assert result.lrs[np.argmin(result.losses)] < 1e3
    np.testing.assert_array_equal(model.predict(X * 100), before)


def test_plot_returns_axes_and_writes_the_file(tmp_path):
    pytest.importorskip("matplotlib")
    X, y = _data()
    result = fastnn.lr_find(_model(), X, y, num_iter=40)
    ax = result.plot(tmp_path / "lr.png")
    assert ax.get_xscale() == "log" and (tmp_path / "lr.png").stat().st_size > 0
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), result.lrs)
    assert "minimum" in ax.get_legend().get_texts()[0].get_text()


def test_arguments_are_checked_before_anything_runs():
    X, y = _data()
    model = _model()
    weights = model.get_weights()
    for kwargs, match in (({"start_lr": 1.0, "end_lr": 0.1}, "end_lr must be above start_lr"),
                          ({"start_lr": 0}, "start_lr"), ({"num_iter": 1}, "num_iter"),
                          ({"suggest": "valley"}, "suggest must be one of"), ({"stop_div": 1}, "stop_div")):
        with pytest.raises((ValueError, TypeError), match=match):
            fastnn.lr_find(model, X, y, **kwargs)
    with pytest.raises(RuntimeError, match="compile"):
        fastnn.lr_find(fastnn.Sequential([fastnn.Dense(6, 2)]), X, y)
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
