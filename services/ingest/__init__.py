"""The HTTP gateway: validates pings against the catalogs and publishes them to Kafka."""
