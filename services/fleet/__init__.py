"""`census fleet`: a simulated fleet of installs sending real HTTP pings to an ingest URL."""
