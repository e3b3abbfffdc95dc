"""``python predict.py --ckpt_path best.ckpt --input plans/ --output out/`` is ``segattn predict ...``."""

import sys

from segattn.commands import predict_main

sys.exit(predict_main())
