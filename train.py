"""Train from YAML: ``python train.py fit --config configs/quickstart.yaml`` (the same as ``segattn fit ...``)."""

import sys

from segattn.cli import cli_main

if __name__ == "__main__":
    sys.exit(cli_main())
