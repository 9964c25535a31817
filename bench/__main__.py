"""`python -m bench` (what `make bench` runs): the platform's load benchmark, see bench/load.py."""

from bench.load import main

main()
