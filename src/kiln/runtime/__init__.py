"""What runs inside a job or replica: layouts, environments, contracts. No server imports."""
