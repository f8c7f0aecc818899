// Segment's and RudderStack's Node.js SDKs, as a customer's backend would use them, pointed at
// the collector. Usage: node server_sdks.js <collector base URL> <write key>. Exits non-zero when
// an SDK reports a failed delivery; ingest/tests/sdks.rs reads the log to see what arrived.
const { Analytics } = require('@segment/analytics-node');
const Rudder = require('@rudderstack/rudder-sdk-node');

const [host, writeKey] = process.argv.slice(2);

(async () => {
  const segment = new Analytics({ writeKey, host, flushInterval: 100 });
  const failures = [];
  segment.on('error', (e) => failures.push(`segment: ${e.code} ${e.reason || ''}`));
  segment.identify({ userId: 'node-seg-1', traits: { email: 'node-seg-1@example.com', title: 'VP Marketing' } });
  segment.track({ userId: 'node-seg-1', event: 'Webinar Registered', properties: { webinar_id: 'w-42' } });
  segment.page({ anonymousId: 'node-anon-1', name: 'Pricing', properties: { url: 'https://acme.example/pricing?utm_campaign=spring' } });
  await segment.closeAndFlush();

  // RudderStack's Node SDK posts gzip with a form content type.
  const rudder = new Rudder(writeKey, { dataPlaneUrl: host, flushInterval: 100, logLevel: 'error' });
  rudder.identify({ userId: 'node-rud-1', traits: { email: 'node-rud-1@example.com' } });
  rudder.track({ userId: 'node-rud-1', event: 'Order Completed', properties: { order_id: 'o-1', revenue: 99.5, currency: 'USD' } });
  await new Promise((resolve, reject) => rudder.flush((err) => (err ? reject(err) : resolve())));

  if (failures.length) {
    console.error(failures.join('\n'));
    process.exit(1);
  }
})().catch((e) => {
  console.error('failed:', e);
  process.exit(1);
});
