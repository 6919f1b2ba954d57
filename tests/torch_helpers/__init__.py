"""Helper modules and scripts for the tests/test_torch_*.py tests.

Separate, importable modules because spawned processes (torch.multiprocessing)
must be able to import the function they run, and scripts because some tests
need a process of their own to read from or to kill.
"""
