"""``python train.py fit --config configs/quickstart.yaml`` is ``segattn fit --config configs/quickstart.yaml``."""

import sys

from segattn.commands import main

sys.exit(main())
