"""Git as the history: snapshot commits, the history walk, trailers, repo state, the merge driver."""
