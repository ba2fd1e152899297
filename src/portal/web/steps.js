// The page side of the flow steps: run by WebDriver's "execute async script"
// with the arguments (ops, timeoutMs, loginForm, done). One call runs every
// step that needs no navigation (fill, select, check, click_if_present,
// wait_for, reported_if) and finds the element of the click that follows, so
// a report costs a handful of WebDriver round trips, not one per field.
//
// `find` and `httpStatus` come from find.js, put before this script.
//
// It answers one array:
//   ["ok", element|null]      every op done; the element found by a `find` op
//   ["reported"]              a `reported_if` element is on the page
//   ["login"]                 the login form is shown: the session ended
//   ["http", status]          the page is an HTTP error page
//   ["missing", index]        op `index` found no element within the timeout
//   ["option", index]         op `index` (select) has no such option
//   ["error", index, text]    op `index` failed (an invalid selector, ...)
const [ops, timeoutMs, loginForm, done] = arguments;

function shown(el) {
  return !!el && el.getClientRects().length > 0;
}

function setValue(el, value) {
  const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype
    : el instanceof HTMLSelectElement ? HTMLSelectElement.prototype
    : HTMLInputElement.prototype;
  const setter = Object.getOwnPropertyDescriptor(proto, "value");
  if (el.focus) el.focus();
  if (setter && setter.set && el instanceof proto.constructor) setter.set.call(el, value);
  else el.value = value;
  el.dispatchEvent(new Event("input", { bubbles: true }));
  el.dispatchEvent(new Event("change", { bubbles: true }));
}

// Whether op `i` is satisfied now: its element is there (and shown, and
// holding its text, for wait_for).
function ready(op) {
  const el = find(op.loc);
  if (!el) return false;
  if (op.op === "wait_for") {
    if (!shown(el)) return false;
    if (op.text != null && !el.textContent.includes(op.text)) return false;
  }
  return true;
}

// The next op after `i` that must find its element.
function nextRequired(i) {
  for (let j = i + 1; j < ops.length; j++) {
    const op = ops[j];
    if (op.op === "click_if_present" || (op.op === "fill" && op.optional)) continue;
    if (op.op === "reported_if") continue;
    return op;
  }
  return null;
}

const deadline = Date.now() + timeoutMs;
let found = null;
let i = 0;

function step() {
  try {
    const status = httpStatus();
    if (status >= 400) return done(["http", status]);
    while (i < ops.length) {
      if (loginForm && loginForm.some((l) => find(l))) return done(["login"]);
      const op = ops[i];
      const el = find(op.loc);
      const late = Date.now() > deadline;
      if (op.op === "reported_if" || op.op === "click_if_present") {
        // Decide once either this element or the next needed one is there.
        const next = nextRequired(i);
        if (!el && next && !ready(next) && !late) return setTimeout(step, 50);
        if (el && op.op === "reported_if") return done(["reported"]);
        if (el) el.click();
        i++;
        continue;
      }
      if (op.op === "fill" && op.optional && !el) {
        i++;
        continue;
      }
      if (!ready(op)) {
        if (late) return done(["missing", op.index]);
        return setTimeout(step, 50);
      }
      switch (op.op) {
        case "fill":
          setValue(el, op.value);
          break;
        case "select": {
          const options = [...el.options];
          const option = op.by === "index" ? options[Number(op.value)]
            : op.by === "text" ? options.find((o) => o.textContent.trim() === op.value)
            : options.find((o) => o.value === op.value);
          if (!option) return done(["option", op.index]);
          setValue(el, option.value);
          break;
        }
        case "check":
          if (el.checked !== op.checked) el.click();
          if (el.checked !== op.checked) {
            el.checked = op.checked;
            el.dispatchEvent(new Event("change", { bubbles: true }));
          }
          break;
        case "find":
          found = el;
          break;
      }
      i++;
    }
    done(["ok", found]);
  } catch (err) {
    done(["error", i < ops.length ? ops[i].index : -1, String(err && err.message || err)]);
  }
}

step();
