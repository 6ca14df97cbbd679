"""What every part of fastnn builds on: argument checks (``validation``), thread control (``threads``), the choice of
BLAS library (``blas_select``), scikit-learn's estimator protocol (``estimator``), progress output (``progress``)
and the classes and file formats by name (``registry``)."""
