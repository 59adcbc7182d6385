"""`census dashboard`: the read side — pages, a JSON API and gauges over the analyst views."""
