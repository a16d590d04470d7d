"""The Ray backend (``KILN_BACKEND=ray``): jobs' hosts and replicas as processes that detached Ray
actors own on a cluster's nodes.

``plans.py`` decides (what to ask Ray for, where a workspace lives on a node, what fits), pure;
``lines.py`` buffers a process's output on its node; ``host.py`` is the actor that owns one
process; ``handle.py`` is what the server holds of it; ``groups.py`` places a job's hosts
together; ``backend.py`` ties them to the seam; ``connection.py`` connects, or fails fast.
Importing ``kiln.compute.ray.backend`` imports Ray (the optional extra ``kiln[ray]``).
"""
