// Segment's and RudderStack's Node.js SDKs with the calls their docs show, without the optional
// properties a collector might want, then one call each that the workspace's tracking plan
// refuses. Usage: node spec_sdks.js <collector base URL> <write key>. Prints JSON: the errors each
// SDK reported (the refusal must be one it read, not a crash); ingest/tests/sdks.rs reads the log.
const { Analytics } = require('@segment/analytics-node');
const Rudder = require('@rudderstack/rudder-sdk-node');

const [host, writeKey] = process.argv.slice(2);
const errors = { segment: [], rudder: [] };

(async () => {
  const segment = new Analytics({ writeKey, host, flushInterval: 100, maxRetries: 0 });
  segment.on('error', (e) => errors.segment.push({ code: e.code, text: String(e.reason || e.message || e) }));
  segment.track({ userId: 'spec-node-seg', event: 'Form Submitted', properties: { form: 'demo' } });
  segment.track({ userId: 'spec-node-seg', event: 'Order Completed', properties: { order_id: 'n-1', total: 15 } });
  await segment.closeAndFlush();
  const refused = new Analytics({ writeKey, host, flushInterval: 100, maxRetries: 0 });
  refused.on('error', (e) => errors.segment.push({ code: e.code, text: String(e.reason || e.message || e) }));
  refused.track({ userId: 'spec-node-seg', event: 'Plan Checked', properties: {} });
  await refused.closeAndFlush();

  // RudderStack's Node SDK rethrows any failed delivery unless given an `errorHandler` (its docs):
  // with one, it hands over the HTTP error, whose body is ours.
  const rudder = new Rudder(writeKey, {
    dataPlaneUrl: host, flushInterval: 100, logLevel: 'off', maxRetries: 0,
    errorHandler: (err) => errors.rudder.push({
      status: err.response && err.response.status,
      code: err.response && err.response.data && err.response.data.code,
      text: JSON.stringify(err.response && err.response.data),
    }),
  });
  rudder.track({ userId: 'spec-node-rud', event: 'Checkout Started', properties: { value: 8 } });
  await new Promise((resolve) => rudder.flush(() => resolve()));
  rudder.track({ userId: 'spec-node-rud', event: 'Plan Checked', properties: {} });
  await new Promise((resolve) => rudder.flush(() => resolve()));

  console.log(JSON.stringify(errors));
})().catch((e) => {
  console.error('failed:', e);
  process.exit(1);
});
