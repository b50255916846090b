"""orchsync: sprints, tasks and agents as plain files in git, indexed in DuckDB.

Files are the truth, git is the history, DuckDB is a disposable index.
"""

__version__ = "0.1.0"
