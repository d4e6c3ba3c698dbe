"""The live check of a client URL, behind a guard that keeps it off internal networks."""
