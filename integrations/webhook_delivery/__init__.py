"""HTTP delivery of merchant webhooks: an SSRF guard applied when each connection is made.

`guard.py` decides whether an address may be contacted; `client.py` is the pooled,
keep-alive HTTP client whose connections resolve the host, check every resolved address
and connect to that exact address (so a DNS answer cannot change between check and use).
"""
