"""The fault suite (issue 7, item 9): scripted faults against a real ``kiln server``.

``catalog`` lists the faults; each is a plain function of a ``lab.Lab`` (a server subprocess
to kill -9 and restart, boto3 clients, a bearer key, a load driver) returning a
``results.Outcome``. ``runner`` runs one in a folder of its own; ``python -m faults`` (with
``PYTHONPATH=tests``) runs a profile; ``test_faults`` runs the short one under pytest. What is
checked and how to run it: docs/faults.md.
"""
