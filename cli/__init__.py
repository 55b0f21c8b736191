"""The ``medvlt`` command line, installed as the package ``medvlt_cli``."""
