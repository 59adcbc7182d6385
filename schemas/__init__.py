"""Every contract of Census: the ping, product catalogs, the Kafka record and the SQL schema."""
