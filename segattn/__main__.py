"""``python -m segattn <command> ...`` is ``segattn <command> ...``."""

import sys

from segattn.commands import main

sys.exit(main())
