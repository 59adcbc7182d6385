"""`census migrate`: applies the numbered SQL migrations of schemas/sql, once each."""
