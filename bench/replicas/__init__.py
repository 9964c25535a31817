"""`python -m bench.replicas`: end-to-end appeals/s with 1, then 3 replicas (devstack/replicas.py)."""
