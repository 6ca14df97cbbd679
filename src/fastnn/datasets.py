"""``fastnn.datasets``: MNIST, Fashion-MNIST and data files. The code lives in :mod:`fastnn.data.datasets`."""
from .data.datasets import (DATASETS, FASHION_MNIST_CLASSES, MAX_IDX_BYTES, DatasetError, data_home, load_fashion_mnist,
                            load_file, load_mnist, read_idx)

__all__ = ["read_idx", "load_mnist", "load_fashion_mnist", "load_file", "data_home", "DatasetError", "DATASETS",
           "FASHION_MNIST_CLASSES", "MAX_IDX_BYTES"]
