"""The calls the SDKs' own docs show, with and without the spec's optional properties, through
Segment's, RudderStack's and PostHog's Python SDKs pointed at the collector; then one call per SDK
that the workspace's tracking plan refuses, to see each SDK read the refusal without crashing.
Usage: spec_sdks.py <collector base URL> <write key>. Prints JSON: the errors each SDK reported.
The Rust test (ingest/tests/sdks.rs) reads the log and the failed events to see what arrived.
"""
import json
import sys

import rudderstack.analytics as rudder
import segment.analytics as segment
from posthog import Posthog

host, write_key = sys.argv[1], sys.argv[2]
errors = {"segment": [], "rudder": [], "posthog": []}


def reported(sdk):
    def on_error(error, batch):
        # What the SDK made of the error body: its code and message when it could read them.
        errors[sdk].append({"text": str(error), "code": getattr(error, "code", None),
                            "status": getattr(error, "status", None)})
    return on_error


segment.write_key = write_key
segment.host = host
segment.max_retries = 0
segment.on_error = reported("segment")
# Segment's docs: track with the properties a site has, not the ones a collector would like.
segment.track(user_id="spec-seg-1", event="Form Submitted", properties={"form": "demo"})
segment.track(user_id="spec-seg-1", event="Order Completed",
              properties={"revenue": 49.0, "order_id": "o-1"})
# Segment's e-commerce spec: only `total`, and products with prices.
segment.track(user_id="spec-seg-2", event="Order Completed",
              properties={"order_id": "o-2", "total": 30.5, "currency": "EUR"})
segment.track(user_id="spec-seg-3", event="Order Completed",
              properties={"order_id": "o-3", "products": [
                  {"product_id": "p1", "price": 10, "quantity": 2}, {"product_id": "p2", "price": 5}]})
segment.track(user_id="spec-seg-3", event="Order Refunded", properties={"order_id": "o-3", "total": 5})
segment.track(user_id="spec-seg-1", event="Signed Up", properties={"type": "organic"})
segment.flush()
# Refused by the tracking plan: the SDK gets a 400 it must read.
segment.track(user_id="spec-seg-1", event="Plan Checked", properties={})
segment.flush()
segment.shutdown()

rudder.write_key = write_key
rudder.dataPlaneUrl = host
rudder.max_retries = 0
rudder.on_error = reported("rudder")
rudder.track(user_id="spec-rud-1", event="File Downloaded", properties={"file": "whitepaper.pdf"})
rudder.track(user_id="spec-rud-1", event="Checkout Started", properties={"value": 12})
rudder.flush()
rudder.track(user_id="spec-rud-1", event="Plan Checked", properties={})
rudder.flush()
rudder.shutdown()

# PostHog's docs (posthog-python), its own wire format (/batch/).
posthog = Posthog(write_key, host=host, on_error=reported("posthog"), max_retries=0, gzip=True,
                  enable_local_evaluation=False)
posthog.capture("user_signed_up", distinct_id="spec-ph-1", properties={"login_type": "email"})
posthog.capture("$pageview", distinct_id="spec-ph-1",
                properties={"$current_url": "https://acme.example/pricing?utm_source=ph&utm_campaign=spring"})
posthog.capture("Order Completed", distinct_id="spec-ph-1", properties={"total": 20, "order_id": "ph-o-1"})
posthog.set(distinct_id="spec-ph-1", properties={"email": "spec-ph-1@example.com", "plan": "pro"})
posthog.group_identify("company", "acct-ph-1", {"name": "Acme"}, distinct_id="spec-ph-1")
posthog.alias(previous_id="spec-ph-1", distinct_id="spec-ph-1-alias")
posthog.flush()
posthog.capture("Plan Checked", distinct_id="spec-ph-1", properties={})
posthog.flush()
posthog.shutdown()

print(json.dumps(errors))
