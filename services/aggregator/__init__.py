"""`census aggregate`: Kafka pings into PostgreSQL rollups, exactly once."""
