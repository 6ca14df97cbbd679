"""fastnn.metrics against scikit-learn's definitions."""
import numpy as np
import pytest

from fastnn import metrics

sk = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("seed", range(5))
def test_against_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, 300)
    pred = np.where(rng.random(300) < 0.6, y, rng.integers(0, 7, 300))
    clusters = (y * 3 + rng.integers(0, 2, 300)) % 8
    assert metrics.accuracy(y, pred) == pytest.approx(sk.accuracy_score(y, pred))
    np.testing.assert_array_equal(metrics.confusion_matrix(y, pred), sk.confusion_matrix(y, pred))
    assert metrics.normalized_mutual_info(y, clusters) == pytest.approx(
        sk.normalized_mutual_info_score(y, clusters), rel=1e-12)


def test_clustering_accuracy_is_the_best_matching():
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    assert metrics.clustering_accuracy(y, np.array([7, 7, 7, 3, 3, 9, 9, 9])) == 1.0
    assert metrics.clustering_accuracy(y, np.zeros(8)) == pytest.approx(3 / 8)
    # brute force over every assignment of 3 clusters to 3 classes
    import itertools
    labels = np.array([1, 1, 2, 2, 0, 0, 2, 1])
    best = max(np.mean(np.array(p)[labels] == y) for p in itertools.permutations(range(3)))
    assert metrics.clustering_accuracy(y, labels) == pytest.approx(best)


def test_string_labels_and_errors():
    assert metrics.accuracy(["a", "b"], ["a", "c"]) == 0.5
    assert metrics.normalized_mutual_info(["x", "x", "y"], [1, 1, 2]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="3 labels but y_pred has 2"):
        metrics.accuracy([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="1-dimensional"):
        metrics.clustering_accuracy(np.zeros((2, 2)), [0, 1])
    with pytest.raises(ValueError, match="empty"):
        metrics.normalized_mutual_info([], [])
