"""Input and output schemas, one module per entity."""
