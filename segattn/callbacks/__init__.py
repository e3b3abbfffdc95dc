"""Lightning callbacks: the test report (``ReportCallback``), the training step timer (``StepTimer``) and the
checkpoint whose ``last.ckpt`` is the end of training (``LastCheckpoint``)."""

from .checkpoint import LastCheckpoint
from .report import ReportCallback
from .timing import StepTimer

__all__ = ["LastCheckpoint", "ReportCallback", "StepTimer"]
