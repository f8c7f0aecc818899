/* leadstream tracker: page views, download clicks, form submits, an anonymous-id cookie,
 * UTM capture, and batching flushed with sendBeacon when the page is hidden.
 * Use:
 *   <script src="https://COLLECTOR/v1/t.js" data-write-key="wk_..." async></script>
 * Options (data attributes): data-host (collector origin; default: the script's origin),
 * data-cookie (cookie name, default ls_aid), data-cookie-days (default 365),
 * data-cookie-domain, data-no-cookie, data-flush-ms (default 5000).
 * API: leadstream.track(name, properties), leadstream.identify(userId, traits),
 *      leadstream.page(), leadstream.flush(). */
(function (w, d) {
  "use strict";
  if (w.leadstream && w.leadstream.loaded) return;
  var script = d.currentScript || d.querySelector("script[data-write-key]");
  var attr = function (n) { return script ? script.getAttribute(n) : null; };
  var writeKey = attr("data-write-key");
  if (!writeKey) { if (w.console) w.console.warn("leadstream: data-write-key is missing"); return; }
  var host = attr("data-host") || (script && script.src ? new URL(script.src).origin : w.location.origin);
  var cookieName = attr("data-cookie") || "ls_aid";
  var cookieDays = parseInt(attr("data-cookie-days") || "365", 10);
  var useCookie = attr("data-no-cookie") === null;
  var flushMs = parseInt(attr("data-flush-ms") || "5000", 10);
  var DOWNLOAD = /\.(pdf|zip|docx?|xlsx?|pptx?|csv|txt|rtf|odt|ods|odp|epub|dmg|exe|msi|gz|tgz|rar|7z|mp3|mp4|mov)(\?|#|$)/i;

  function uuid() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = (Math.random() * 16) | 0;
      return (c === "x" ? r : (r & 3) | 8).toString(16);
    });
  }
  function readCookie(name) {
    var m = d.cookie.match(new RegExp("(?:^|; )" + name + "=([A-Za-z0-9_-]{1,128})"));
    return m ? m[1] : null;
  }
  var anonymousId = (useCookie && readCookie(cookieName)) || uuid();
  if (useCookie) {
    var c = cookieName + "=" + anonymousId + "; Max-Age=" + cookieDays * 86400 + "; Path=/; SameSite=Lax";
    var domain = attr("data-cookie-domain");
    if (domain) c += "; Domain=" + domain;
    if (w.location.protocol === "https:") c += "; Secure";
    d.cookie = c;
  }
  var userId = null;

  function campaign() {
    var out = {}, map = { utm_source: "source", utm_medium: "medium", utm_campaign: "name", utm_term: "term", utm_content: "content" };
    var params = new URLSearchParams(w.location.search);
    for (var k in map) { if (params.get(k)) out[map[k]] = params.get(k); }
    return out;
  }
  function context() {
    return {
      page: { url: w.location.href, path: w.location.pathname, referrer: d.referrer, title: d.title, search: w.location.search },
      campaign: campaign(),
      locale: w.navigator.language,
      userAgent: w.navigator.userAgent,
      channel: "web",
      library: { name: "leadstream.js", version: "1" }
    };
  }

  var queue = [];
  function enqueue(event) {
    event.messageId = uuid();
    event.anonymousId = anonymousId;
    if (userId) event.userId = userId;
    event.originalTimestamp = new Date().toISOString();
    event.context = context();
    queue.push(event);
    if (queue.length >= 50) flush();
  }
  function flush(beacon) {
    if (!queue.length) return;
    var body = JSON.stringify({ writeKey: writeKey, sentAt: new Date().toISOString(), batch: queue.splice(0, queue.length) });
    var url = host + "/v1/batch";
    // text/plain keeps the request simple (no CORS preflight); the collector reads JSON anyway.
    if (beacon && w.navigator.sendBeacon && w.navigator.sendBeacon(url, new Blob([body], { type: "text/plain" }))) return;
    if (w.fetch) w.fetch(url, { method: "POST", body: body, keepalive: true, headers: { "Content-Type": "text/plain" } });
  }

  var api = {
    loaded: true,
    anonymousId: function () { return anonymousId; },
    page: function (props) { enqueue({ type: "page", name: d.title, properties: props || {} }); },
    track: function (name, props) { enqueue({ type: "track", event: name, properties: props || {} }); },
    identify: function (id, traits) { userId = id; enqueue({ type: "identify", userId: id, traits: traits || {} }); },
    flush: function () { flush(false); }
  };
  w.leadstream = api;

  d.addEventListener("click", function (e) {
    var a = e.target && e.target.closest ? e.target.closest("a[href]") : null;
    if (!a) return;
    var href = a.href || "";
    if (a.hasAttribute("download") || DOWNLOAD.test(href)) {
      api.track("File Downloaded", { file_name: href.split(/[?#]/)[0].split("/").pop() || href, url: href });
      flush(true);
    }
  }, true);
  d.addEventListener("submit", function (e) {
    var f = e.target;
    api.track("Form Submitted", { form_id: (f && (f.id || f.getAttribute("name") || f.getAttribute("action"))) || "form" });
    flush(true);
  }, true);
  d.addEventListener("visibilitychange", function () { if (d.visibilityState === "hidden") flush(true); });
  w.addEventListener("pagehide", function () { flush(true); });
  setInterval(function () { flush(false); }, flushMs);
  api.page();
})(window, document);
