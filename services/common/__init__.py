"""Process plumbing shared by the services: settings, logging, lifecycle and the ops server."""
