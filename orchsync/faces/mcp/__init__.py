"""The MCP face: orchsync's library calls as tools, prompts and resources for coding agents."""
