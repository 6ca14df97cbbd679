"""Data-parallel training and k-means over MPI (fastnn.distributed): each case of tests/mpi_cases.py runs under
``mpiexec -n 2`` and ``-n 3`` (batches that do not divide evenly among the ranks) and under one process."""
import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
if MPIEXEC is None:  # pragma: no cover
    pytest.skip("mpiexec not found (pip install mpich)", allow_module_level=True)
SCRIPT = os.path.join(os.path.dirname(__file__), "mpi_cases.py")


def _run(case, ranks, tmp_path, timeout=180):
    out = tmp_path / "out.json"
    proc = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, SCRIPT, case, str(out)], capture_output=True,
                          text=True, timeout=timeout)
    result = json.loads(out.read_text()) if out.exists() else None
    return proc, result


def _passed(case, ranks, tmp_path):
    proc, result = _run(case, ranks, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["size"] == ranks
    return result


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_training_equals_one_process_and_every_rank_agrees(ranks, tmp_path):
    found = _passed("fit", ranks, tmp_path)
    dense = found["dense"]
    assert dense["relative"] < 1e-12 and dense["same_on_ranks"]
    assert dense["epochs"][0] == dense["epochs"][1]  # early stopping decided alike
    assert max(dense["loss"]) < 1e-12  # loss, val_loss, val_accuracy recorded alike
    assert found["rerun_identical"] and found["float32_same_on_ranks"] and found["ring_order"]
    for kind in ("cnn", "rnn"):
        assert found[kind]["relative"] < 1e-12 and found[kind]["same_on_ranks"], kind
    assert found["uint8"]["relative"] < 1e-5 and found["uint8"]["same_on_ranks"]  # float32: sums in another order
    if ranks == 1:  # one process: the same arithmetic as fit without distribute
        assert found["cnn"]["relative"] == 0 and found["rnn"]["relative"] == 0 and found["uint8"]["relative"] == 0


@pytest.mark.parametrize("ranks", [2, 3])
def test_each_rank_its_own_rows(ranks, tmp_path):
    found = _passed("local", ranks, tmp_path)
    assert found["relative"] < 1e-12 and found["same_on_ranks"]
    assert found["shuffled_rerun_identical"] and found["shuffled_same_on_ranks"]


@pytest.mark.parametrize("ranks", [1, 3])
def test_kmeans_equals_one_process(ranks, tmp_path):
    found = _passed("kmeans", ranks, tmp_path)
    for key in ("float64 k-means++", "float64 random"):
        assert found[key]["relative"] < 1e-12 and found[key]["inertia"] < 1e-12, key
    for key in ("float64 k-means++", "float64 random", "float32 k-means++", "float32 random"):
        r = found[key]
        assert r["labels"] and r["same_on_ranks"] and r["n_iter"][0] == r["n_iter"][1], key
    assert found["empty"] == {"centers": True, "labels": True, "counts": [1, 2, 2]}
    assert all(found["local"].values())


def test_checkpoints_come_from_rank_0_and_resume(tmp_path):
    found = _passed("checkpoint", 2, tmp_path)
    assert found["resumed_equal"]
    assert found["files"] == ["best-1.fnn", "best-2.fnn", "ck.fnn"]


@pytest.mark.parametrize("ranks", [1, 3])
def test_refusals_reach_every_rank(ranks, tmp_path):
    found = _passed("refusals", ranks, tmp_path)
    assert "cannot train a model with BatchNorm" in found["batchnorm"]
    assert "distribute must be a fastnn.distributed.DataParallel" in found["not_dp"]
    if ranks == 1:
        assert found["one_rank_refused"] == "ValueError: X contains NaN or infinity"
    else:  # rank 0's rows were fine: it says which rank refused, and why
        expected = f"RuntimeError: rank {ranks - 1} of {ranks} refused the run (ValueError: X contains NaN or infinity)"
        assert found["one_rank_refused"].startswith(expected)
        assert found["kmeans_one_rank_refused"].startswith(expected)
    assert found["after"] > 0  # the ranks still agree on the next run


def test_an_exception_on_one_rank_ends_every_rank_and_is_reported_once(tmp_path):
    proc, result = _run("error", 2, tmp_path, timeout=120)
    assert proc.returncode != 0 and result is None
    assert proc.stderr.count("fastnn: rank 1 of 2 failed; ending every rank") == 1, proc.stderr
    assert "[rank 1] RuntimeError: a failure on rank 1" in proc.stderr


def test_a_killed_rank_ends_the_job(tmp_path):
    proc, result = _run("killed", 2, tmp_path, timeout=120)  # the job ends: no rank left waiting
    assert proc.returncode != 0 and result is None


def test_ctrl_c_ends_every_rank_and_is_reported_once(tmp_path):
    import signal
    import time

    proc = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, SCRIPT, "interrupt", str(tmp_path / "out.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"started-{r}").exists() for r in (0, 1)) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)  # as Ctrl-C in the terminal: mpiexec passes it to every rank
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # pragma: no cover - the failure this test is for
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    # never twice; mpiexec, which has the signal too, may end the ranks before rank 0 has written its report
    reports = err.count("failed; ending every rank")
    assert reports <= 1 and (reports == 0 or "KeyboardInterrupt" in err), err


def test_without_mpi4py_the_error_says_what_to_install(monkeypatch):
    import fastnn.distributed

    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match="pip install mpi4py mpich"):
        fastnn.distributed.DataParallel()


def test_rows_split_into_contiguous_blocks_in_rank_order():
    import numpy as np

    from fastnn.distributed import part_bounds

    assert [part_bounds(10, 3, r) for r in range(3)] == [(0, 4), (4, 7), (7, 10)]
    assert [part_bounds(2, 3, r) for r in range(3)] == [(0, 1), (1, 2), (2, 2)]
    assert np.sum([hi - lo for lo, hi in (part_bounds(1023, 7, r) for r in range(7))]) == 1023


def test_command_line_trains_over_mpi_and_reports_once(tmp_path):
    import numpy as np

    import fastnn

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    data = tmp_path / "points.csv"
    np.savetxt(data, np.column_stack([(X[:, 0] + X[:, 1] > 0).astype(int), X]), delimiter=",", fmt="%.6g")
    args = ["-m", "fastnn", "train", "--data", str(data), "--label-column", "0", "--epochs", "3", "--dtype",
            "float64", "--quiet", "--save"]
    proc = subprocess.run([MPIEXEC, "-n", "2", sys.executable] + args + [str(tmp_path / "two.fnn"), "--distributed"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("saved model to") == 1 and proc.stdout.count("test accuracy") == 1
    assert "distributed: 2 processes (MPI ranks) share each batch of 32" in proc.stdout
    one = subprocess.run([sys.executable] + args + [str(tmp_path / "one.fnn")], capture_output=True, text=True,
                         timeout=180)
    assert one.returncode == 0, one.stderr
    a, b = fastnn.load(tmp_path / "one.fnn"), fastnn.load(tmp_path / "two.fnn")
    np.testing.assert_allclose(b.parameters, a.parameters, rtol=0, atol=1e-12 * np.abs(a.parameters).max())
