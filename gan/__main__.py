"""`python -m gan ...` (and `torchrun ... -m gan train ...`) runs the `gan` command line."""

from gan.cli import main

main()
