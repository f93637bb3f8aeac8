import sys

from pixguard.cli import main

sys.exit(main())
