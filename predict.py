"""Predict masks with a trained checkpoint: ``python predict.py --ckpt best.ckpt --input plans/ --output masks/``.

The same command as ``segattn-predict`` (see ``segattn/predict/cli.py`` or ``--help``).
"""

import sys

from segattn.predict.cli import main

if __name__ == "__main__":
    sys.exit(main())
