"""Talking to the Raise segment API: one client per run, paced, retried, and read in few requests.

``session.open_client`` gives a ready ``RaiseClient`` (the embedded sandbox when configured);
``fetch.fetch_current`` reads the state of the segments a sheet names; ``limiter`` (one per API
per process, shared by every run) and ``retry`` hold the rate and retry rules every request
goes through.
"""
