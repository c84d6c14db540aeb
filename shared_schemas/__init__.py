"""modelyard shared wire types."""
