// Segment's browser SDK (analytics.js 2.0, `@segment/analytics-next`), unchanged, on a page of a
// customer's site, pointed at the collector the way a site would: `cdnURL` only. The SDK fetches
// its settings from the collector (`/v1/projects/<key>/settings`), which points it at the
// collector's `/v1/<letter>` endpoints. The page is jsdom's: a real DOM, cookies and
// localStorage, with Node's fetch as the browser's.
// Usage: node browser.js <collector base URL> <public write key>; prints {"anonymousId": …}.
const { JSDOM } = require('jsdom');

const [collector, writeKey] = process.argv.slice(2);
const dom = new JSDOM('<!doctype html><html><head><title>Pricing | Acme</title></head><body></body></html>', {
  url: 'https://shop.example/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring',
  referrer: 'https://www.google.com/',
  pretendToBeVisual: true,
});
const { window } = dom;
window.fetch = (...args) => fetch(...args);
for (const name of ['window', 'document', 'navigator', 'location', 'localStorage', 'sessionStorage', 'screen']) {
  Object.defineProperty(globalThis, name, { value: window[name], configurable: true, writable: true });
}

const { AnalyticsBrowser } = require('@segment/analytics-next');

(async () => {
  const [analytics] = await AnalyticsBrowser.load({ writeKey, cdnURL: collector });
  const delivered = [];
  const check = (ctx) => {
    // A failed delivery leaves the event queued for retry instead of failing the call.
    const failed = ctx.failedDelivery && ctx.failedDelivery();
    if (failed) throw new Error(`${ctx.event.type} not delivered: ${failed.reason}`);
    delivered.push(ctx.event.type);
  };
  check(await analytics.page());
  check(await analytics.track('Pricing Viewed', { plan: 'pro' }));
  check(await analytics.identify('web-user-1', { email: 'web-user-1@example.com', company: 'Acme' }));
  check(await analytics.group('acct-web-1', { name: 'Acme' }));
  // Segment's spec events as sites send them: an order with only `total`, a form without the
  // property leadstream's kind expects.
  check(await analytics.track('Order Completed', { order_id: 'web-o-1', total: 20 }));
  check(await analytics.track('Form Submitted', { form: 'contact' }));
  const anonymousId = analytics.user().anonymousId();
  console.log(JSON.stringify({ anonymousId, delivered }));
  process.exit(0);
})().catch((e) => {
  console.error('failed:', e && e.stack ? e.stack : e);
  process.exit(1);
});
