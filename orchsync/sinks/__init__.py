"""Event sinks: every event delivered to the tools a team already watches.

Configured as `sinks:` in `delegation/orchsync.yml` (`settings`), each sink has a cursor in
`.git/orchsync/sinks/<name>/` (`ledger`) that moves only once its receiver acknowledged a
batch, so delivery is at least once and skips nothing; events carry their stable `id` to
deduplicate by.

- `settings`  the `sinks:` list, checked (diagnostics with file, line and field)
- `source`    what a sink has not had yet: events of commits from the index, journal events
- `engine`    one delivery round (read, send, move the cursor); `flush` without a daemon
- `batch`     a batch of events, and what a receiver provides (`Sink`)
- `runner`    the daemon's threads, woken after each batch, with backoff
- `report`    `orchsync sinks status` and the lines `orchsync status` adds
- `jsonl`, `webhook`, `otlp`   the receivers

Importing this package imports none of them.
"""
