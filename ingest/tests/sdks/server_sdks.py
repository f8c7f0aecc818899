"""Segment's and RudderStack's Python SDKs, as a customer's backend would use them, pointed at the
collector. Usage: server_sdks.py <collector base URL> <write key>. Exits non-zero when an SDK
reports a failed delivery; the Rust test (ingest/tests/sdks.rs) reads the log to see what arrived.
"""
import sys

import rudderstack.analytics as rudder
import segment.analytics as segment

host, write_key = sys.argv[1], sys.argv[2]
failures = []

segment.write_key = write_key
segment.host = host
segment.gzip = True  # Content-Encoding: gzip
segment.max_retries = 2
segment.on_error = lambda error, batch: failures.append(("segment", repr(error)))
segment.identify("py-seg-1", {"email": "py-seg-1@example.com", "company": "Acme"})
segment.track("py-seg-1", "Trial Started", {"plan": "pro"})
segment.page("py-seg-1", "Docs", "Install", {"url": "https://acme.example/docs?utm_source=newsletter"})
segment.group("py-seg-1", "acct-py-1", {"name": "Acme"})
segment.alias("py-seg-1-old", "py-seg-1")
segment.screen("py-seg-1", "App", "Home")
segment.flush()
segment.shutdown()

rudder.write_key = write_key
rudder.dataPlaneUrl = host
rudder.max_retries = 2
rudder.on_error = lambda error, batch: failures.append(("rudder", repr(error)))
# RudderStack's Python SDK sends an identify's traits in `context.traits`.
rudder.identify("py-rud-1", {"email": "py-rud-1@example.com"})
rudder.track("py-rud-1", "Demo Requested", {"product": "scoring"})
rudder.page("py-rud-1", "Pricing", "Pricing")
rudder.flush()
rudder.shutdown()

if failures:
    print(failures, file=sys.stderr)
    sys.exit(1)
