"""Data folder shipped inside the edgeq wheel."""
