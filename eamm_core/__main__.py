import sys

from eamm_core.cli import main

sys.exit(main())
