"""Baselines made on demand and as a side effect of training: which data, which columns, and
where the two files go."""
