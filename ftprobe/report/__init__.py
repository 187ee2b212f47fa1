"""The report layer: every plot and table drawn from the studies' records."""
