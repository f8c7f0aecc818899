// RudderStack's browser SDK (`@rudderstack/analytics-js`, its self-contained build), unchanged, on
// a page of a customer's site (jsdom, which also enforces CORS on the SDK's XMLHttpRequests),
// pointed at the collector as data plane and as `configUrl`: the SDK fetches its source config
// from the collector (`/sourceConfig/`), then posts each call to the collector's `/v1/<call>`.
// Usage: node rudder_browser.js <collector base URL> <public write key>; prints
// {"anonymousId": …, "delivered": [paths]} once every call has been answered 200.
const fs = require('fs');
const { JSDOM, VirtualConsole } = require('jsdom');

const [collector, writeKey] = process.argv.slice(2);
const problems = [];
const virtualConsole = new VirtualConsole();
virtualConsole.on('error', (...args) => problems.push(args.join(' ')));
virtualConsole.on('warn', (...args) => problems.push(args.join(' ')));
const dom = new JSDOM('<!doctype html><html><head><title>Pricing | Acme</title></head><body></body></html>', {
  url: 'https://shop.example/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring',
  referrer: 'https://www.google.com/',
  pretendToBeVisual: true,
  runScripts: 'dangerously',
  virtualConsole,
});
const { window } = dom;
window.eval(`
  // jsdom lacks navigator.sendBeacon, which every browser the SDK supports has (without it the
  // SDK would fetch a polyfill from the internet): a stand-in posting the same body.
  navigator.sendBeacon = function (url, data) {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url, true);
    xhr.send(data);
    return true;
  };
  // Every answer the page gets, to know when the SDK's calls have been delivered.
  window.__answers = [];
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url) {
    this.addEventListener('loadend', () => window.__answers.push({ method, url: String(url), status: this.status }));
    return open.apply(this, arguments);
  };
`);
const sdk = require.resolve('@rudderstack/analytics-js/bundled').replace(/cjs[\\/]index\.cjs$/, 'umd/index.js');
window.eval(fs.readFileSync(sdk, 'utf8'));

const analytics = new window.rudderanalytics.RudderAnalytics();
analytics.load(writeKey, collector, { configUrl: collector, logLevel: 'WARN' });
analytics.ready(() => {
  analytics.page();
  analytics.track('Pricing Viewed', { plan: 'pro' });
  analytics.track('Order Completed', { order_id: 'rud-o-1', revenue: 5 });
  // RudderStack's SDK sends an identify's traits in context.traits.
  analytics.identify('rud-web-1', { email: 'rud-web-1@example.com' });
});

const started = Date.now();
const timer = setInterval(() => {
  const posts = window.__answers.filter((a) => a.method === 'POST');
  const delivered = posts.filter((a) => a.status === 200).map((a) => new URL(a.url).pathname);
  if (delivered.length >= 4) {
    clearInterval(timer);
    console.log(JSON.stringify({ anonymousId: analytics.getAnonymousId(), delivered }));
    process.exit(0);
  }
  if (Date.now() - started > 20000) {
    console.error('not delivered within 20 s:', JSON.stringify(window.__answers), problems.join('\n'));
    process.exit(1);
  }
}, 50);
