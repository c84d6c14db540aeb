"""Several inference servers behind one manager: their settings, state, and routing."""
