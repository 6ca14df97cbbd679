"""Optimizers and learning-rate schedules: the compiled updates against PyTorch's formulas (written out in
fastnn._reference, and against torch.optim itself when PyTorch is installed), state in model files and
checkpoints, bad settings."""
import numpy as np
import pytest

import fastnn
from fastnn import _kernels
from fastnn import _reference as ref
from fastnn.schedules import CosineDecay, ExponentialDecay, OneCycle

OPTIMIZERS = [
    ("sgd", lambda wd: fastnn.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=wd)),
    ("adam", lambda wd: fastnn.Adam(lr=0.01, weight_decay=wd)),
    ("adam-amsgrad", lambda wd: fastnn.Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=wd, amsgrad=True)),
    ("adamw", lambda wd: fastnn.AdamW(lr=0.01, weight_decay=wd)),
    ("adamw-amsgrad", lambda wd: fastnn.AdamW(lr=0.01, weight_decay=wd, amsgrad=True)),
    ("rmsprop", lambda wd: fastnn.RMSprop(lr=0.01, weight_decay=wd)),
    ("rmsprop-momentum", lambda wd: fastnn.RMSprop(lr=0.01, alpha=0.9, momentum=0.9, weight_decay=wd)),
]


def reference_step(opt, p, g, state, t, regularize):
    """The same step through the NumPy formulas (state rows as the engine keeps them)."""
    wd = opt.weight_decay if regularize else 0.0
    lr = opt.current_lr(t - 1)
    if isinstance(opt, fastnn.SGD):
        ref.sgd_update(p, g, state[0], lr, opt.momentum, opt.nesterov, wd, regularize=regularize)
    elif isinstance(opt, fastnn.Adam):
        ref.adam_update(p, g, state[0], state[1], state[2] if opt.amsgrad else None, t, lr, opt.betas, opt.eps, wd,
                        opt.amsgrad, decoupled=isinstance(opt, fastnn.AdamW))
    else:
        ref.rmsprop_update(p, g, state[0], state[1] if opt.momentum else None, lr, opt.alpha, opt.eps,
                           opt.momentum, wd)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-13), (np.float32, 1e-5)])
@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
@pytest.mark.parametrize("wd", [0.0, 0.05])
@pytest.mark.parametrize("regularize", [True, False])
def test_update_kernel_matches_the_formulas(dtype, tol, name, make, wd, regularize, rng):
    opt = make(wd)
    n = 1003
    p = rng.normal(size=n).astype(dtype)
    state = np.zeros((opt.n_state(), n), dtype)
    p_ref, state_ref = p.astype(np.float64), state.astype(np.float64)
    hyper = opt._hyper(0.0, 0.0)
    for t in range(1, 8):
        g = rng.normal(size=n).astype(dtype)
        pen = _kernels.optimizer_update(p, g.copy(), state, hyper, t - 1, regularize)
        assert pen == 0.0
        reference_step(opt, p_ref, g.astype(np.float64), state_ref, t, regularize)
        np.testing.assert_allclose(p, p_ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(state, state_ref, rtol=tol, atol=tol)


def torch_step_network(opt_name, make, wd, X, y, steps, schedule=None):
    """fastnn and PyTorch from the same weights, ``steps`` full-batch updates; both parameter vectors."""
    torch = pytest.importorskip("torch")
    model = fastnn.Sequential(fastnn.Dense(6, 16, "tanh"), fastnn.Dense(16, 4, "softmax"), seed=3,
                              dtype="float64")
    opt = make(wd)
    if schedule is not None:
        opt.lr = schedule
    model.compile("cross_entropy", opt)
    weights = model.get_weights()
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4)).double()
    with torch.no_grad():
        for param, w in zip(net.parameters(), weights):
            param.copy_(torch.from_numpy(w))
    params = list(net.parameters())
    groups = [{"params": params[0::2], "weight_decay": wd}, {"params": params[1::2], "weight_decay": 0.0}]
    base = opt.current_lr(0) if schedule is None else 0.1
    if isinstance(opt, fastnn.SGD):
        topt = torch.optim.SGD(groups, lr=base, momentum=opt.momentum, nesterov=opt.nesterov)
    elif isinstance(opt, fastnn.AdamW):
        topt = torch.optim.AdamW(groups, lr=base, betas=opt.betas, eps=opt.eps, amsgrad=opt.amsgrad)
    elif isinstance(opt, fastnn.Adam):
        topt = torch.optim.Adam(groups, lr=base, betas=opt.betas, eps=opt.eps, amsgrad=opt.amsgrad)
    else:
        topt = torch.optim.RMSprop(groups, lr=base, alpha=opt.alpha, eps=opt.eps, momentum=opt.momentum)
    sched = None
    if schedule is not None:
        sched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=schedule.max_lr, total_steps=schedule.total_steps,
                                                    pct_start=schedule.pct_start, div_factor=schedule.div_factor,
                                                    final_div_factor=schedule.final_div_factor,
                                                    cycle_momentum=False)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(steps):
        topt.zero_grad()
        torch.nn.functional.cross_entropy(net(Xt), yt).backward()
        topt.step()
        if sched is not None:
            sched.step()
    model.fit(X, y, epochs=steps, batch_size=len(X), shuffle=False, verbose=0)
    expected = np.concatenate([p.detach().numpy().ravel() for p in net.parameters()])
    return model.parameters, expected


@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_five_full_batch_steps_equal_torch_optim(name, make, wd):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(40, 6))
    y = rng.integers(0, 4, 40)
    got, expected = torch_step_network(name, make, wd, X, y, steps=5)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_one_cycle_training_equals_torch_at_every_step():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(30, 6))
    y = rng.integers(0, 4, 30)
    got, expected = torch_step_network("adam", OPTIMIZERS[1][1], 0.0, X, y, steps=20,
                                       schedule=OneCycle(0.05, total_steps=20, pct_start=0.25))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_one_cycle_rates_equal_torch():
    torch = pytest.importorskip("torch")
    s = OneCycle(0.3, total_steps=97, pct_start=0.3, div_factor=10.0, final_div_factor=100.0)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.3, total_steps=97, pct_start=0.3, div_factor=10.0,
                                                final_div_factor=100.0, cycle_momentum=False)
    rates = []
    for _ in range(97):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(s.rates(97), rates, rtol=1e-13, atol=0)


@pytest.mark.parametrize("schedule, formula", [
    (CosineDecay(0.1, decay_steps=50), lambda t: ref.cosine_decay(t, 0.1, 50)),
    (CosineDecay(0.2, decay_steps=40, alpha=0.1, warmup_steps=10),
     lambda t: ref.cosine_decay(t, 0.2, 40, 0.1, 10)),
    (ExponentialDecay(0.1, decay_steps=7, decay_rate=0.5), lambda t: ref.exponential_decay(t, 0.1, 7, 0.5)),
    (ExponentialDecay(0.1, decay_steps=7, decay_rate=0.5, staircase=True),
     lambda t: ref.exponential_decay(t, 0.1, 7, 0.5, True)),
    (OneCycle(0.3, total_steps=60), lambda t: ref.one_cycle(t, 0.3, 60)),
], ids=repr)
def test_schedules_equal_their_closed_forms(schedule, formula):
    rates = schedule.rates(80)
    np.testing.assert_allclose(rates, [formula(t) for t in range(80)], rtol=1e-12, atol=1e-15)
    assert schedule(13) == rates[13]


def test_scheduled_rate_is_applied_per_update(rng):
    """Training with a schedule equals training one update at a time at each scheduled rate."""
    X = rng.normal(size=(64, 5))
    y = rng.integers(0, 3, 64)
    schedule = ExponentialDecay(0.2, decay_steps=2, decay_rate=0.7)

    def model(lr):
        m = fastnn.Sequential(fastnn.Dense(5, 8, "relu"), fastnn.Dense(8, 3, "softmax"), seed=1, dtype="float64")
        return m.compile("cross_entropy", fastnn.SGD(lr=lr, momentum=0.5))

    scheduled = model(schedule)
    h = scheduled.fit(X, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    stepwise = model(0.2)
    for t in range(12):
        stepwise.optimizer.lr = schedule(t)
        stepwise.fit(X[(t % 4) * 16:(t % 4 + 1) * 16], y[(t % 4) * 16:(t % 4 + 1) * 16], batch_size=16,
                     shuffle=False, verbose=0)
    np.testing.assert_allclose(scheduled.parameters, stepwise.parameters, rtol=1e-12, atol=1e-14)
    assert h["lr"] == [schedule(0), schedule(4), schedule(8)]
    assert int(scheduled._step[0]) == 12


@pytest.mark.parametrize("make", [lambda: fastnn.Adam(lr=1e-3, amsgrad=True),
                                  lambda: fastnn.RMSprop(lr=CosineDecay(1e-3, 100), momentum=0.5),
                                  lambda: fastnn.AdamW(lr=OneCycle(0.01, total_steps=200))])
def test_state_and_schedule_survive_save_and_load(make, tmp_path, rng):
    X = rng.normal(size=(100, 5)).astype(np.float32)
    y = rng.integers(0, 3, 100)
    m = fastnn.Sequential(fastnn.Dense(5, 8, "relu"), fastnn.Dense(8, 3, "softmax"), seed=1)
    m.compile("cross_entropy", make())
    m.fit(X, y, epochs=2, batch_size=10, verbose=0)
    m.save(tmp_path / "m.fnn")
    back = fastnn.load(tmp_path / "m.fnn")
    assert back.optimizer == m.optimizer and int(back._step[0]) == 20
    np.testing.assert_array_equal(back._state, m._state)
    m.fit(X, y, epochs=1, batch_size=10, verbose=0)
    back.fit(X, y, epochs=1, batch_size=10, verbose=0)
    np.testing.assert_array_equal(back.parameters, m.parameters)


def test_version_1_files_still_load(tmp_path, rng):
    import json
    import zipfile

    m = fastnn.Sequential(fastnn.Dense(4, 3, "softmax"), seed=0).compile("cross_entropy",
                                                                          fastnn.SGD(lr=0.1, momentum=0.9))
    m.fit(rng.normal(size=(20, 4)), rng.integers(0, 3, 20), verbose=0)
    m.save(tmp_path / "new.fnn")
    with zipfile.ZipFile(tmp_path / "new.fnn") as z:
        members = {n: z.read(n) for n in z.namelist()}
    header = json.loads(members.pop("header.json"))
    header["format_version"] = 1
    header["optimizer"] = {"name": "SGD", **header["optimizer"]["config"]}
    header.pop("loss_config")
    velocity = np.load(tmp_path / "new.fnn", allow_pickle=False)["optimizer_state"][0]
    members.pop("optimizer_state.npy")
    with zipfile.ZipFile(tmp_path / "old.fnn", "w") as z:
        z.writestr("header.json", json.dumps(header))
        for name, data in members.items():
            z.writestr(name, data)
        import io
        buf = io.BytesIO()
        np.save(buf, velocity)
        z.writestr("velocity.npy", buf.getvalue())
    old = fastnn.load(tmp_path / "old.fnn")
    np.testing.assert_array_equal(old._state, m._state)
    np.testing.assert_array_equal(old.parameters, m.parameters)


def test_resume_with_adam_is_bit_identical(tmp_path, rng):
    X = rng.normal(size=(200, 6)).astype(np.float32)
    y = rng.integers(0, 3, 200)

    def make():
        m = fastnn.Sequential(fastnn.Dense(6, 32, "gelu"), fastnn.Dense(32, 3, "softmax"), seed=2)
        return m.compile("cross_entropy", fastnn.Adam(lr=CosineDecay(3e-3, decay_steps=60)))

    whole = make()
    whole.fit(X, y, epochs=4, batch_size=16, verbose=0)
    path = tmp_path / "ck.fnn"
    part = make()
    part.fit(X, y, epochs=2, batch_size=16, verbose=0, checkpoint=path)
    resumed = make()
    resumed.fit(X, y, epochs=4, batch_size=16, verbose=0, checkpoint=path, resume=True)
    # the checkpoint recorded 2 of 2 epochs: a run asking for 4 continues from there
    np.testing.assert_array_equal(resumed.parameters, whole.parameters)
    np.testing.assert_array_equal(resumed._state, whole._state)


def test_divergence_restores_the_optimizer_state(rng):
    X = rng.normal(size=(64, 4)) * 1e3
    y = rng.normal(size=(64, 1)) * 1e3
    m = fastnn.Sequential(fastnn.Dense(4, 32, "relu"), fastnn.Dense(32, 1), seed=0)
    m.compile("mse", fastnn.RMSprop(lr=1e3))
    m.fit(X[:8] / 1e3, y[:8] / 1e3, epochs=1, batch_size=4, verbose=0)
    snapshot = (m.parameters.copy(), m._state.copy(), m._step.copy())
    with pytest.warns(RuntimeWarning, match="diverged"):
        m.fit(X, y * 1e30, epochs=3, batch_size=8, verbose=0, on_divergence="warn")
    for now, before in zip((m.parameters, m._state, m._step), snapshot):
        np.testing.assert_array_equal(now, before)


@pytest.mark.parametrize("make, match", [
    (lambda: fastnn.Adam(betas=(0.9, 1.0)), r"betas\[1\] must be < 1"),
    (lambda: fastnn.Adam(betas=(-0.1, 0.9)), r"betas\[0\] must be >= 0"),
    (lambda: fastnn.Adam(betas=0.9), "betas must be a pair"),
    (lambda: fastnn.Adam(eps=0.0), "eps must be > 0"),
    (lambda: fastnn.AdamW(weight_decay=-1), "weight_decay must be >= 0"),
    (lambda: fastnn.RMSprop(alpha=1.0), "alpha must be < 1"),
    (lambda: fastnn.RMSprop(momentum=float("nan")), "momentum must be finite"),
    (lambda: fastnn.Adam(amsgrad=1), "amsgrad must be a bool"),
    (lambda: fastnn.Adam(lr=0.0), "lr must be > 0"),
    (lambda: fastnn.Adam(lr=1e-3, learning_rate=1e-3), "not both"),
    (lambda: fastnn.Adam(lr=CosineDecay), "schedule object"),
    (lambda: CosineDecay(0.1, decay_steps=0), "decay_steps must be >= 1"),
    (lambda: CosineDecay(float("nan"), 10), "initial_lr must be finite"),
    (lambda: ExponentialDecay(0.1, 10, decay_rate=1.5), "decay_rate must be <= 1"),
    (lambda: OneCycle(0.1, total_steps=1), "total_steps must be >= 2"),
    (lambda: OneCycle(0.1, total_steps=3, pct_start=0.1), "peak"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_settings_are_refused(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make()


def test_optimizer_names_and_defaults():
    m = fastnn.Sequential(fastnn.Dense(4, 3, "softmax"))
    for name, cls in (("adam", fastnn.Adam), ("AdamW", fastnn.AdamW), ("rmsprop", fastnn.RMSprop)):
        m.compile(optimizer=name)
        assert type(m.optimizer) is cls
    assert fastnn.Adam().lr == 1e-3 and fastnn.AdamW().weight_decay == 0.01 and fastnn.RMSprop().lr == 1e-2
    assert m._state.shape == (1, m.n_params)
    m.compile(optimizer=fastnn.Adam(amsgrad=True))
    assert m._state.shape == (3, m.n_params)
