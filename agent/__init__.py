"""dunning-agent: the LangGraph agent (state, nodes, graphs, policy)."""
