"""The soak kept in the repo (`make soak`, README "Soak"): see `__main__` for the run."""
