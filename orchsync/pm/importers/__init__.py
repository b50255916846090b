"""`orchsync import`: bring a Backlog.md project or GitHub issues into the delegation tree.

One module per step: `foreign` reads untrusted files, `backlog` and `github` turn a source
into `items.Item`s (with `mapping` for codes, statuses, priorities and dates), `plan` gives
each item its code and path and compares it with an earlier import, `apply` writes and
commits. The CLI (`orchsync/faces/cli/imports.py`) is a thin face over `apply.run_import`.
"""
