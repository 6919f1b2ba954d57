"""metricwatch: watch ML training runs live in the terminal.

Importing the package loads neither textual nor torch: the core (reading,
summarising, diagnosing) is plain Python, the TUI lives in metricwatch.tui
and the training helpers in metricwatch.torch.
"""

__version__ = "0.1.0"
