// Reads the portal's answer to a report's submit. Run by WebDriver's
// "execute script" again and again until it answers something other than
// "waiting", with (confirmation, formError, reported, loginForm, submit, mark,
// request, seen); `find`, `httpStatus` and `net` come from find.js and net.js.
//
// `mark` is the page's state when the submit was clicked: {doc, seq}. The
// portal's word is what counts, never what the page merely shows:
//   - with `request` {method, url, status}: that request of the page,
//     answered with `status` (any 2xx without one);
//   - without: a new document (the server answered the form), or a request
//     that changes something (not GET or HEAD) answered 2xx;
// and the confirmation (or `reported`) shown, now or at an earlier look
// (`seen`: a message may close as its request goes out), and no change still
// in flight. It answers:
//   ["confirmed", state]          state: {doc, seq, url}
//   ["waiting", what, shown]      what is still missing, for the message on
//                                 timeout; whether the confirmation shows now
//   ["http", status]              the new page is an HTTP error page
//   ["request-failed", what, status]
//   ["form-error", text]
//   ["login"]
const [confirmation, formError, reported, loginForm, submit, mark, request, seen] = arguments;

const text = (el) => (el.textContent || "").replace(/\s+/g, " ").trim();
const decode = (s) => { try { return decodeURIComponent(s); } catch (e) { return s; } };

function sameTarget(url, pattern) {
  let u, p;
  try { u = new URL(url, location.href); p = new URL(pattern, location.href); } catch (e) { return false; }
  if (u.origin !== p.origin) return false;
  const path = (x) => decode(x.pathname).replace(/\/+$/, "");
  if (path(u) !== path(p)) return false;
  return !pattern.includes("?") || decode(u.search) === decode(p.search);
}

function answered(e, status) {
  if (status == null) return e.status >= 200 && e.status < 300;
  return e.status === status || (!!e.redirected && status >= 300 && status < 400);
}

const describe = (e) => e.method + " " + e.url;

const shownNow = !!(confirmation && find(confirmation));
const waiting = (what) => ["waiting", what, shownNow];

function read() {
  const state = net();
  const fresh = state.doc !== mark.doc;
  if (fresh && document.readyState === "loading") return waiting("the page after the submit is still loading");
  if (fresh && httpStatus() >= 400) return ["http", httpStatus()];
  const error = find(formError);
  if (error && text(error)) return ["form-error", text(error).slice(0, 200)];
  if (loginForm.some((l) => find(l))) return ["login"];

  // What the submit sent: requests of this document since the click, or the
  // form whose answer is the new document.
  const sent = fresh ? [] : state.log.filter((e) => e.id > mark.seq);
  if (fresh) {
    try {
      const form = JSON.parse(sessionStorage.getItem("__reporterForm") || "null");
      if (form && form.doc === mark.doc) {
        const nav = performance.getEntriesByType("navigation")[0];
        sent.push({ method: form.method, url: form.url, status: httpStatus() || 200,
          redirected: !!(nav && nav.redirectCount) });
      }
    } catch (e) { /* no storage: the new document alone is the answer */ }
  }
  if (request) {
    const hits = sent.filter((e) => e.method === request.method && sameTarget(e.url, request.url));
    const done = hits.filter((e) => e.status !== null);
    if (!done.some((e) => answered(e, request.status))) {
      if (done.length) {
        const last = done[done.length - 1];
        return ["request-failed", describe(last), last.status];
      }
      return waiting(hits.length
        ? "its request " + describe(hits[0]) + " got no answer"
        : "the page sent no " + request.method + " " + request.url);
    }
  } else if (!fresh) {
    const changes = sent.filter((e) => e.method !== "GET" && e.method !== "HEAD");
    const done = changes.filter((e) => e.status !== null);
    if (!done.some((e) => answered(e, null))) {
      if (done.length && done.length === changes.length) {
        const last = done[done.length - 1];
        return ["request-failed", describe(last), last.status];
      }
      return waiting(changes.length
        ? "its request " + describe(changes[0]) + " got no answer"
        : "the page sent the portal nothing since the submit (a message alone is not the portal's word)");
    }
  }
  if (confirmation && !shownNow && !seen && !(reported && find(reported))) {
    return waiting("the confirmation is not shown");
  }
  if (!confirmation && !request && document.readyState !== "complete") {
    return waiting("the page after the submit is still loading");
  }
  if (!confirmation && !request && fresh && find(submit)) {
    return waiting("the form is shown again");
  }
  const busy = changesInFlight();
  if (busy.length) return waiting("requests still in flight: " + busy.map(describe).join(", "));
  return ["confirmed", { doc: state.doc, seq: state.seq, url: location.href }];
}

return read();
