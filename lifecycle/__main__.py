"""`python -m lifecycle` is the `lifecycle` command."""

from lifecycle.cli import main

main()
