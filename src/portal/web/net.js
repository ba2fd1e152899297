// The page's own requests, observed from inside the page: every script puts
// this before its own, so the observer is in place in each document from the
// first step on (through a local chromedriver and Selenium Grid alike).
//
// `net()` answers the document's observer, installing it once:
//   doc     a random id of this document (a new one after every load)
//   seq     the id of the last request seen
//   log     the last 200 requests: {id, method, url, status (null while in
//           flight, 0 when it failed without an answer)}
// A form's submit (or form.submit()) is remembered in sessionStorage, so the
// next document can tell which request brought it, and this one that it is
// being left: {doc, seq, method, url, at}.
function net() {
  if (window.__reporterNet) return window.__reporterNet;
  const state = {
    doc: Math.random().toString(36).slice(2) + Date.now().toString(36),
    seq: 0,
    log: [],
  };
  Object.defineProperty(window, "__reporterNet", { value: state });
  const begin = (method, url) => {
    let href = String(url);
    try { href = new URL(href, location.href).href; } catch (e) { /* kept as given */ }
    const entry = { id: ++state.seq, method: String(method || "GET").toUpperCase(), url: href, status: null };
    state.log.push(entry);
    if (state.log.length > 200) state.log.shift();
    return entry;
  };
  const fetch = window.fetch;
  if (fetch) {
    window.fetch = function (input, init) {
      const method = (init && init.method) || (input && input.method) || "GET";
      const url = input && typeof input === "object" && "url" in input ? input.url : input;
      const entry = begin(method, url);
      return fetch.apply(this, arguments).then(
        (answer) => { entry.status = answer.status; return answer; },
        (err) => { entry.status = 0; throw err; });
    };
  }
  const XHR = window.XMLHttpRequest && window.XMLHttpRequest.prototype;
  if (XHR) {
    const open = XHR.open;
    const send = XHR.send;
    XHR.open = function (method, url) {
      this.__reporterRequest = [method, url];
      return open.apply(this, arguments);
    };
    XHR.send = function () {
      const [method, url] = this.__reporterRequest || ["GET", ""];
      const entry = begin(method, url);
      this.addEventListener("loadend", () => { entry.status = this.status || 0; });
      return send.apply(this, arguments);
    };
  }
  const remember = (form, submitter) => {
    try {
      const method = ((submitter && submitter.getAttribute("formmethod")) || form.method || "get").toUpperCase();
      const action = (submitter && submitter.formAction) || form.action || location.href;
      sessionStorage.setItem("__reporterForm",
        JSON.stringify({ doc: state.doc, seq: state.seq, method, url: action, at: Date.now() }));
    } catch (e) { /* storage refused: the form is then not told apart */ }
  };
  window.addEventListener("submit", (e) => { if (!e.defaultPrevented) remember(e.target, e.submitter); });
  const submit = HTMLFormElement.prototype.submit;
  HTMLFormElement.prototype.submit = function () {
    remember(this, null);
    return submit.apply(this, arguments);
  };
  return state;
}

// Requests still waiting for their answer that change something (not GET or
// HEAD): leaving the page now would leave the portal's word unknown.
function changesInFlight() {
  return net().log.filter((e) => e.status === null && e.method !== "GET" && e.method !== "HEAD");
}

// A request of the page itself (fetch or XMLHttpRequest, since the document
// began) that the server answered 5xx: the page shows an error, not the
// elements a step waits for.
function pageRequestFault() {
  for (const e of net().log) if (e.status >= 500) return e.status;
  const entries = performance.getEntriesByType ? performance.getEntriesByType("resource") : [];
  for (const e of entries) {
    if ((e.initiatorType === "fetch" || e.initiatorType === "xmlhttprequest") && e.responseStatus >= 500) {
      return e.responseStatus;
    }
  }
  return 0;
}

// Whether an element can take a click as a person's would (Playwright's
// actionability checks): attached, visible, enabled, holding still, and the
// element a click at its centre lands on. Answers "" or what stops it.
function unactionable(el, lastRects) {
  if (!el.isConnected) return "it left the page";
  const rect = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  if (rect.width === 0 || rect.height === 0 || style.visibility === "hidden") return "it is not visible";
  if (el.disabled || el.getAttribute("aria-disabled") === "true" || el.closest("fieldset[disabled]")) {
    return "it is disabled";
  }
  const key = [rect.x, rect.y, rect.width, rect.height].join(",");
  const moving = lastRects.get(el) !== key;
  lastRects.set(el, key);
  if (moving) return "it is still moving";
  if (rect.bottom < 0 || rect.right < 0 || rect.top > innerHeight || rect.left > innerWidth) {
    el.scrollIntoView({ block: "center", inline: "center" });
    lastRects.delete(el);
    return "it is scrolled out of view";
  }
  const x = rect.left + rect.width / 2;
  const y = rect.top + rect.height / 2;
  const hit = document.elementFromPoint(x, y);
  if (hit && hit !== el && !el.contains(hit) && !(el.labels && [...el.labels].some((l) => l.contains(hit)))) {
    return "it is covered by " + describeElement(hit);
  }
  return "";
}

// `div.popover-backdrop`, `button#save`: for messages.
function describeElement(el) {
  let text = el.tagName.toLowerCase();
  if (el.id) text += "#" + el.id;
  const classes = typeof el.className === "string" ? el.className.trim().split(/\s+/).filter(Boolean) : [];
  if (classes.length) text += "." + classes.slice(0, 3).join(".");
  return "`" + text + "`";
}
