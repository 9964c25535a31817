"""`python -m bench` (what `make bench` runs): the platform's load benchmark, see bench/load/."""

from bench.load.run import main

main()
