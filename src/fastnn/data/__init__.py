"""Data: the built-in datasets and data files (:mod:`~fastnn.data.datasets`, public as :mod:`fastnn.datasets`) and
the feature scalers (:mod:`~fastnn.data.preprocessing`, public as :mod:`fastnn.preprocessing`)."""
