"""The faces: thin fronts over the same library calls, one package each.

`cli` (click commands), `mcp` (the MCP server for agents) and `board` (the web board). None
imports another and none holds a business rule: a rule found here belongs in the library.
"""
