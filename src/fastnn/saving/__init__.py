"""Files: fastnn's model format (:mod:`~fastnn.saving.format`, public as :mod:`fastnn.io`), the same kind of file for
the estimators (:mod:`~fastnn.saving.estimators`) and the export to ONNX (:mod:`~fastnn.saving.onnx`, public as
:mod:`fastnn.onnx`). They know the classes they rebuild by name only, through :mod:`fastnn._core.registry`."""
