"""Lightning callbacks: the test report (``ReportCallback``), the training step timer (``StepTimer``), the
checkpoint whose ``last.ckpt`` is the end of training (``LastCheckpoint``) and the validation cadence for large
images (``ValidationCadence``)."""

from .cadence import ValidationCadence
from .checkpoint import LastCheckpoint
from .report import ReportCallback
from .timing import StepTimer

__all__ = ["LastCheckpoint", "ReportCallback", "StepTimer", "ValidationCadence"]
