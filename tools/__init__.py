"""What the agent uses to touch the world: the ledger, drafting, mail transports, imports."""
