"""`python cli.py ...` runs the `gan` command line from a checkout, as `gan ...` does once installed.

The command line lives in the package (gan/cli/); this script only calls it.
"""

from gan.cli import main

if __name__ == "__main__":
    main()
