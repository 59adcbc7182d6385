"""Compatibility endpoints: each seed product's own request body, mapped to canonical pings."""
