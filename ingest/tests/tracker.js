// Runs the served tracker (path in argv[2]) in a minimal browser stand-in, plays a visit
// (page load, a download click, a form submit, an identify, leaving the page) and prints what
// the tracker sent, as JSON, for tests/tracker.rs to post to the collector.
"use strict";
const src = require("fs").readFileSync(process.argv[2], "utf8");
const listeners = { doc: {}, win: {} };
const sent = [];
let cookie = "";
const script = {
  src: "https://collector.test/v1/t.js",
  getAttribute: (n) => ({ "data-write-key": process.argv[3] })[n] ?? null,
};
global.window = {
  location: {
    href: "https://acme.io/pricing?utm_source=news&utm_campaign=spring",
    pathname: "/pricing",
    search: "?utm_source=news&utm_campaign=spring",
    origin: "https://acme.io",
    protocol: "https:",
  },
  navigator: {
    language: "en-US",
    userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    sendBeacon: (url, blob) => { sent.push({ url, blob }); return true; },
  },
  crypto: require("crypto"),
  addEventListener: (t, f) => { listeners.win[t] = f; },
  console,
};
global.document = {
  currentScript: script,
  referrer: "https://google.com/",
  title: "Pricing",
  get cookie() { return cookie; },
  set cookie(v) { cookie = v.split(";")[0]; },
  querySelector: () => script,
  addEventListener: (t, f) => { listeners.doc[t] = f; },
  visibilityState: "visible",
};
global.setInterval = () => 0;
eval(src);

const link = { href: "https://acme.io/files/guide.pdf?v=2", hasAttribute: () => false };
listeners.doc.click({ target: { closest: () => link } });
listeners.doc.click({ target: { closest: () => ({ href: "https://acme.io/about", hasAttribute: () => false }) } });
listeners.doc.submit({ target: { id: "contact", getAttribute: () => null } });
window.leadstream.identify("user-9", { email: "u9@acme.io" });
listeners.win.pagehide();

(async () => {
  const bodies = [];
  for (const s of sent) bodies.push({ url: s.url, type: s.blob.type, body: await s.blob.text() });
  console.log(JSON.stringify({ cookie, anonymousId: window.leadstream.anonymousId(), sent: bodies }));
})();
