"""Lightning's notices that say nothing about a segattn run, silenced once per process.

- the litlogger advertisement printed on every Trainer start;
- the notice that ``tensorboardX`` is no longer a dependency (segattn logs to CSV unless TensorBoard is installed,
  the ``segattn[tensorboard]`` extra; either is a choice, not a problem);
- Lightning 2.6's ``LeafSpec`` deprecation on torch 2.14 (inside Lightning, nothing a user can change);
- LightningCLI's warning that it got both ``args`` and ``sys.argv``: the dispatcher hands it ``sys.argv`` tidied;
- OpenCV's own log lines for a file it cannot decode (``[ERROR:0@2.4] global loadsave.cpp ...``): segattn reports
  that file itself, in one line naming it.
"""

from __future__ import annotations

import logging
import warnings

_NOTICES = ("💡 Tip: For seamless cloud logging",)


class _DropNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(_NOTICES)


def quiet_lightning() -> None:
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    warnings.filterwarnings("ignore", message=r"Starting from v1\.9\.0, `tensorboardX` has been removed")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated")
    warnings.filterwarnings("ignore", message=r"LightningCLI's args parameter is intended to run from within Python")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNotices) for f in logger.filters):
            logger.addFilter(_DropNotices())
