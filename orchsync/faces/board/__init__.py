"""`orchsync board`: a live web board over the library, for the people who steer the agents.

A face like the CLI and the MCP server: pages are views of library calls (`data/`), each
with a JSON twin; writes go through the same library calls as the CLI (`actions.py`); a
guard checks Host, token, origin and CSRF token on every request (`security.py`); open pages
update live when a commit lands (`live.py`). Starlette, uvicorn, Jinja2 and markdown-it are
imported only by `orchsync board` itself, never by `orchsync --help`.
"""
