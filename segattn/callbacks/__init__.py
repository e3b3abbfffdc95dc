"""Lightning callbacks: the test report (``ReportCallback``) and the training step timer (``StepTimer``)."""

from .report import ReportCallback
from .timing import StepTimer

__all__ = ["ReportCallback", "StepTimer"]
