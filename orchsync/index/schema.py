"""The index's tables and the views users query, defined once.

Each table is a list of (column, DuckDB type); the same list gives the DDL and the column
spec of the bulk loader, so a column cannot be added to one and forgotten in the other.
Bump SCHEMA_VERSION on any change: an index of another version is rebuilt, never migrated.
"""

from __future__ import annotations

__all__ = ["ENTITY_TABLES", "SCHEMA_VERSION", "TABLES", "create_sql", "views_sql"]

SCHEMA_VERSION = 4

_TAIL = [
    ("hash", "VARCHAR"),
    ("file_path", "VARCHAR"),
    ("valid", "BOOLEAN"),
    ("created_at", "TIMESTAMP"),
    ("updated_at", "TIMESTAMP"),
]

TABLES: dict[str, list[tuple[str, str]]] = {
    "files": [
        ("path", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("code", "VARCHAR"),
        ("hash", "VARCHAR"),
        ("size", "BIGINT"),
        ("valid", "BOOLEAN"),
        ("diagnostics", "JSON"),
        ("commit", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("updated_at", "TIMESTAMP"),
    ],
    "sprints": [
        ("id", "BIGINT"),
        ("code", "VARCHAR"),
        ("title", "VARCHAR"),
        ("status", "VARCHAR"),
        ("owner", "VARCHAR"),
        ("start_date", "VARCHAR"),
        ("end_date", "VARCHAR"),
        ("goal", "VARCHAR"),
        ("context", "VARCHAR[]"),
        ("metadata", "JSON"),
        ("body", "VARCHAR"),
        *_TAIL,
    ],
    "tasks": [
        ("id", "BIGINT"),
        ("code", "VARCHAR"),
        ("sprint_code", "VARCHAR"),
        ("sprint_id", "BIGINT"),
        ("title", "VARCHAR"),
        ("status", "VARCHAR"),
        ("priority", "VARCHAR"),
        ("agent", "VARCHAR"),
        ("assignee", "VARCHAR"),
        ("depends_on", "VARCHAR[]"),
        ("objectives", "JSON"),
        ("deliverables", "JSON"),
        ("acceptance_criteria", "JSON"),
        ("context", "VARCHAR[]"),
        ("metadata", "JSON"),
        ("body", "VARCHAR"),
        *_TAIL,
    ],
    "task_agents": [
        ("id", "BIGINT"),
        ("task_code", "VARCHAR"),
        ("sprint_code", "VARCHAR"),
        ("agent", "VARCHAR"),
        ("config", "JSON"),
        *_TAIL,
    ],
    "agents": [
        ("id", "BIGINT"),
        ("name", "VARCHAR"),
        ("title", "VARCHAR"),
        ("role", "VARCHAR"),
        ("model", "VARCHAR"),
        ("capabilities", "VARCHAR[]"),
        ("tools_allowed", "VARCHAR[]"),
        ("safety_rails", "VARCHAR[]"),
        ("context", "VARCHAR[]"),
        ("metadata", "JSON"),
        *_TAIL,
    ],
    "adrs": [
        ("id", "BIGINT"),
        ("number", "INTEGER"),
        ("title", "VARCHAR"),
        ("status", "VARCHAR"),
        ("date", "VARCHAR"),
        ("context", "VARCHAR[]"),
        ("metadata", "JSON"),
        ("body", "VARCHAR"),
        *_TAIL,
    ],
    "bugs": [
        ("id", "BIGINT"),
        ("number", "INTEGER"),
        ("title", "VARCHAR"),
        ("status", "VARCHAR"),
        ("priority", "VARCHAR"),
        ("sprint_code", "VARCHAR"),
        ("reported_by", "VARCHAR"),
        ("context", "VARCHAR[]"),
        ("metadata", "JSON"),
        ("body", "VARCHAR"),
        *_TAIL,
    ],
    "sessions": [
        ("id", "BIGINT"),
        ("key", "VARCHAR"),
        ("title", "VARCHAR"),
        ("status", "VARCHAR"),
        ("task_code", "VARCHAR"),
        ("sprint_code", "VARCHAR"),
        ("agent", "VARCHAR"),
        ("started_at", "VARCHAR"),
        ("ended_at", "VARCHAR"),
        ("handoffs", "JSON"),
        ("metadata", "JSON"),
        ("body", "VARCHAR"),
        *_TAIL,
    ],
    # Search terms and their documents, derived in SQL from the entity rows
    # (index/terms.py) for the paths each batch touches; never loaded from rows.
    "terms": [
        ("doc", "UBIGINT"),
        ("term", "VARCHAR"),
        ("short", "INTEGER"),
        ("long", "INTEGER"),
    ],
    "term_docs": [
        ("file_path", "VARCHAR"),
        ("doc", "UBIGINT"),
        ("kind", "VARCHAR"),
        ("code", "VARCHAR"),
        ("title", "VARCHAR"),
        ("status", "VARCHAR"),
        ("doc_len", "INTEGER"),
        ("text_hash", "VARCHAR"),
    ],
    "events": [
        ("id", "BIGINT"),
        ("event_type", "VARCHAR"),
        ("level", "VARCHAR"),
        ("entity_type", "VARCHAR"),
        ("entity_id", "BIGINT"),
        ("entity_code", "VARCHAR"),
        ("correlation_id", "UUID"),
        ("session_key", "VARCHAR"),
        ("agent", "VARCHAR"),
        ("agent_id", "BIGINT"),
        ("payload", "JSON"),
        ("emitted_at", "TIMESTAMP"),
        ("commit", "VARCHAR"),
        ("seq", "INTEGER"),
        ("path", "VARCHAR"),
        ("hash", "VARCHAR"),
        ("source", "VARCHAR"),
    ],
}

# kind value -> table holding its entities
ENTITY_TABLES = {
    "sprint": "sprints",
    "task": "tasks",
    "task_agent": "task_agents",
    "agent": "agents",
    "adr": "adrs",
    "bug": "bugs",
    "session": "sessions",
}

_KEYS = {"files": "path", "events": "id"}


def create_sql() -> list[str]:
    out = ["CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)"]
    for name, cols in TABLES.items():
        key = _KEYS.get(name)
        defs = ", ".join(f'"{c}" {t}' + (" PRIMARY KEY" if c == key else "") for c, t in cols)
        out.append(f"CREATE TABLE IF NOT EXISTS {name} ({defs})")
    return out


def views_sql(archive_glob: str | None) -> list[str]:
    """The seed's names over our tables; `_all` adds archived Parquet events when there are any."""
    events_cols = ", ".join(f'"{c}"' for c, _ in TABLES["events"])
    archived = (
        f" UNION ALL BY NAME SELECT {events_cols} FROM read_parquet('{archive_glob}')"
        if archive_glob
        else ""
    )
    return [
        """CREATE OR REPLACE VIEW orchestration_sprints AS
           SELECT id, code AS sprint_code, title, status, hash,
                  json_merge_patch(coalesce(metadata, '{}'::JSON), json_object(
                      'owner', owner, 'start_date', start_date, 'end_date', end_date,
                      'goal', goal, 'context', context))::JSON AS metadata,
                  file_path, created_at, updated_at, valid, owner, start_date, end_date, goal
           FROM sprints""",
        """CREATE OR REPLACE VIEW orchestration_tasks AS
           SELECT t.id, t.code AS task_code, t.sprint_id, t.title, t.status, t.priority, t.hash,
                  json_merge_patch(coalesce(t.metadata, '{}'::JSON), json_object(
                      'objectives', t.objectives, 'deliverables', t.deliverables,
                      'acceptance_criteria', t.acceptance_criteria, 'depends_on', t.depends_on,
                      'context', t.context, 'agent', t.agent, 'assignee', t.assignee))::JSON AS metadata,
                  a.config AS agent_config, t.file_path, t.created_at, t.updated_at,
                  t.sprint_code, t.agent, t.depends_on, t.valid
           FROM tasks t LEFT JOIN task_agents a ON a.task_code = t.code AND a.sprint_code = t.sprint_code""",
        """CREATE OR REPLACE VIEW orchestration_events AS
           SELECT id, event_type, entity_type, entity_id, correlation_id, session_key, agent_id,
                  payload, emitted_at, level, entity_code, agent, "commit", seq, path, hash, source
           FROM events""",
        f"""CREATE OR REPLACE VIEW orchestration_events_all AS
           SELECT {events_cols} FROM events{archived}""",
    ]
