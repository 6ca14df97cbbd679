"""Integer tokens to learned vectors: :class:`Embedding` (PyTorch's ``nn.Embedding``)."""
from .. import _kernels
from .._core.registry import register
from .._core.validation import check_int
from .base import ParamSpec, _Weighted

__all__ = ["Embedding"]


@register
class Embedding(_Weighted):
    """A lookup table of ``num_embeddings`` vectors of ``embedding_dim`` values: an input ``(n_samples, steps)`` of
    integer indices becomes ``(n_samples, steps, embedding_dim)``.

    Parameters
    ----------
    num_embeddings : int
        How many indices there are (the vocabulary's size): inputs hold integers in ``0 .. num_embeddings - 1``,
        checked before anything is computed.
    embedding_dim : int
        Values of each vector.

    Attributes
    ----------
    weight : ndarray of shape (num_embeddings, embedding_dim)
        Writable view once the layer belongs to a model; drawn from the standard normal distribution, as
        PyTorch does.

    Notes
    -----
    An Embedding is a model's first layer; the model takes its input's steps from ``input_shape=(steps,)`` or from
    the first tokens it is given: ``Sequential([Embedding(1000, 32), LSTM(32, 64), Dense(64, 2, "softmax")])``. Its
    gradient is a sum over every row and step in a fixed order (dense, as PyTorch's default ``sparse=False``):
    results do not depend on the number of threads.

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> model = fastnn.Sequential([fastnn.Embedding(10, 4), fastnn.GRU(4, 8), fastnn.Dense(8, 1)],
    ...                           input_shape=(6,), seed=0)
    >>> model.predict(np.array([[1, 2, 3, 4, 5, 6]])).shape
    (1, 1)
    """

    kind = _kernels.LAYER_EMBEDDING
    _engine_activation = "identity"
    _FIXED = {"num_embeddings": lambda self, v: check_int(v, "num_embeddings", minimum=1),
              "embedding_dim": lambda self, v: check_int(v, "embedding_dim", minimum=1)}
    _LIVE = {}
    _READONLY = ("kind",)
    _CONFIG = {"num_embeddings": "size", "embedding_dim": "size"}

    def __init__(self, num_embeddings, embedding_dim):
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self._weight = None
        self._bias = None

    @property
    def weight_shape(self):
        return (self.num_embeddings, self.embedding_dim)

    @property
    def fans(self):
        return self.num_embeddings, self.embedding_dim

    def params(self):
        """The vectors, from the standard normal distribution (decayed)."""
        return (ParamSpec("weight", self.weight_shape, "normal", True),)

    @property
    def bias(self):
        return None

    def _output_shape(self, shape):
        if len(shape) != 1:
            raise ValueError(f"Embedding takes indices (n_samples, steps), but gets samples of shape {shape}")
        return (shape[0], self.embedding_dim)

    def _layout(self, shape):
        return {"kind": self.kind, "steps": shape[0], "feats": self.num_embeddings, "hidden": self.embedding_dim}

    def __repr__(self):
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"
