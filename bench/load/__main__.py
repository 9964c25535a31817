"""`python -m bench.load`: the same as `python -m bench`."""

from bench.load.run import main

main()
