"""The deployable Census services; each subpackage is one process and never imports another."""
