"""The container's entry point: everything lives in release.__main__.main()."""

import sys

from release.__main__ import main

sys.exit(main())
