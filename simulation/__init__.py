"""The world outside the product: the carrier, the agents, the customer base, its outcomes."""
