import sys

from rtsep.cli import main

sys.exit(main())
