"""`python -m openacm` is the `openacm` command."""

from openacm.cli.main import main

main()
