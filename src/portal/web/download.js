// Takes the export through the page. Run by "execute async script" with
// (loc, timeoutMs, loginForm, done); `find`, `httpStatus`, `net` and
// `unactionable` come from find.js and net.js.
//
// A link is fetched with the page's cookies; a form's button sends its form
// the same way. Any other element is clicked, and the file the page then
// produces is taken from the page: a Blob or data URL offered through an
// `<a download>`, `window.open` or `location` pointed at a `blob:` URL, or an
// ordinary download the click starts (fetched like a link). No download
// directory is needed, so a remote browser works the same.
//
// Answers ["ok", status, contentType, base64], ["login"] when the answer is
// the login page, ["html", status, title] for another page, ["http", status]
// when the page itself is an error page, ["missing", why], or ["error", text].
const [loc, timeoutMs, loginForm, done] = arguments;
const deadline = Date.now() + timeoutMs;
const lastRects = new Map();

function base64(buffer) {
  const bytes = new Uint8Array(buffer);
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(out);
}

function answer(r, blob) {
  const type = (blob && blob.type) || (r && r.headers.get("content-type")) || "";
  const status = r ? r.status : 200;
  const body = blob || null;
  (body ? body.arrayBuffer() : r.arrayBuffer()).then((buffer) => {
    if (type.includes("html")) {
      const page = new DOMParser().parseFromString(new TextDecoder().decode(buffer), "text/html");
      if (loginForm.some((l) => find(l, page))) return done(["login"]);
      return done(["html", status, page.title]);
    }
    done(["ok", status, type, base64(buffer)]);
  }).catch((err) => done(["error", String(err)]));
}

function fetchUrl(url, init) {
  fetch(url, Object.assign({ credentials: "include", redirect: "follow" }, init || {}))
    .then((r) => answer(r, null))
    .catch((err) => done(["error", String(err)]));
}

const isFileUrl = (href) => /^(blob|data):/i.test(href || "");

// Clicks `el` and takes the file it produces.
function clickAndTake(el) {
  const blobs = new Map();
  const urls = [];
  const restore = [];
  const patch = (owner, name, make) => {
    const original = owner[name];
    owner[name] = make(original);
    restore.push(() => { owner[name] = original; });
  };
  patch(URL, "createObjectURL", (original) => function (object) {
    const url = original.apply(this, arguments);
    blobs.set(url, object);
    return url;
  });
  const offered = (a) => a.hasAttribute("download") || isFileUrl(a.href);
  patch(HTMLAnchorElement.prototype, "click", (original) => function () {
    if (offered(this)) { urls.push(this.href); return; }
    return original.apply(this, arguments);
  });
  patch(HTMLAnchorElement.prototype, "dispatchEvent", (original) => function (event) {
    if (event && event.type === "click" && offered(this)) { urls.push(this.href); return false; }
    return (original || EventTarget.prototype.dispatchEvent).apply(this, arguments);
  });
  patch(window, "open", (original) => function (url) {
    if (url) { urls.push(new URL(String(url), location.href).href); return null; }
    return original.apply(this, arguments);
  });
  const onClick = (e) => {
    const a = e.target && e.target.closest && e.target.closest("a");
    if (a && offered(a)) { e.preventDefault(); urls.push(a.href); }
  };
  document.addEventListener("click", onClick, true);
  restore.push(() => document.removeEventListener("click", onClick, true));
  const onNavigate = (e) => {
    if (!e.destination.sameDocument && e.cancelable) { e.preventDefault(); urls.push(e.destination.url); }
  };
  if (window.navigation) {
    navigation.addEventListener("navigate", onNavigate);
    restore.push(() => navigation.removeEventListener("navigate", onNavigate));
  }
  const undo = () => { while (restore.length) restore.pop()(); };
  try {
    el.click();
  } catch (err) {
    undo();
    return done(["error", "clicking it failed: " + String(err && err.message || err)]);
  }
  (function wait() {
    if (!urls.length) {
      if (Date.now() > deadline) {
        undo();
        return done(["missing", "clicking it produced no file (no link, Blob, window.open or download)"]);
      }
      return setTimeout(wait, 50);
    }
    undo();
    const url = urls[0];
    const blob = blobs.get(url);
    if (blob instanceof Blob) return answer(null, blob);
    if (isFileUrl(url)) {
      return fetch(url).then((r) => r.blob()).then((b) => answer(null, b))
        .catch((err) => done(["error", String(err)]));
    }
    fetchUrl(url);
  })();
}

function start() {
  try {
    if (httpStatus() >= 400) return done(["http", httpStatus()]);
    if (loginForm.some((l) => find(l))) return done(["login"]);
    const el = find(loc);
    if (!el) return Date.now() > deadline ? done(["missing", "nothing on the page matches it"]) : setTimeout(start, 50);
    if (el.href && !isFileUrl(el.href) && !/^javascript:/i.test(el.href)) return fetchUrl(el.href);
    const form = el.form || (el.tagName === "BUTTON" || el.type === "submit" ? el.closest("form") : null);
    if (form && !isFileUrl(el.href)) {
      let url = el.formAction || form.action;
      const method = (el.getAttribute("formmethod") || form.method || "get").toUpperCase();
      const data = new FormData(form);
      if (el.name) data.append(el.name, el.value);
      const query = new URLSearchParams(data);
      if (method === "GET") {
        url += (url.includes("?") ? "&" : "?") + query;
        return fetchUrl(url);
      }
      return fetchUrl(url, { method, body: query });
    }
    const why = unactionable(el, lastRects);
    if (why) return Date.now() > deadline ? done(["missing", why]) : setTimeout(start, 50);
    clickAndTake(el);
  } catch (err) {
    done(["error", String(err && err.message || err)]);
  }
}
start();
