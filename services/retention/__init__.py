"""`census retention`: day partitions ahead, and the purge of rows past their horizon."""
