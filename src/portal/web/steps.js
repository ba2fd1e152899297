// The page side of the flow steps: run by WebDriver's "execute async script"
// with the arguments (ops, timeoutMs, loginForm, avoidDoc, done). One call
// runs every step that needs no navigation (fill, select, check,
// click_if_present, wait_for, wait_gone, reported_if) and finds the element
// of the click that follows, so a report costs a handful of WebDriver round
// trips, not one per field.
//
// `find`, `httpStatus`, `net`, `pageRequestFault`, `unactionable` and
// `describeElement` come from find.js and net.js, put before this script.
//
// It answers {answer, doc}: the document's id, and one array:
//   ["ok", element|null, state] every op done; the element found by a `find`
//                             op; state: {doc, seq, url} of the page
//   ["same-document"]         the page is still the document `avoidDoc` (a
//                             goto that did not load a new one)
//   ["widget", index, el]     op `index` selects in a custom widget (not a
//                             <select>): the caller opens it with a real click
//   ["reported"]              a `reported_if` element is on the page
//   ["login"]                 the login form is shown: the session ended
//   ["http", status]          the page, or a request it made, answered an error
//   ["missing", index, why]   op `index` found no usable element in time
//   ["option", index]         op `index` (select) has no such option
//   ["error", index, text]    op `index` failed (an invalid selector, ...)
const [ops, timeoutMs, loginForm, avoidDoc, reply] = arguments;
// Every answer says which document gave it.
const done = (answer) =>
  reply({ answer, doc: net().doc, seq: net().seq, busy: changesInFlight().length > 0 });

function shown(el) {
  return !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
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

// The element a person clicks to check a box: the box, or its label when
// the box itself is hidden (a styled checkbox or switch).
function checkTarget(el) {
  if (shown(el)) return el;
  const label = (el.labels && el.labels[0]) || el.closest("label");
  return label && shown(label) ? label : el;
}

function isNativeSelect(el) {
  return el instanceof HTMLSelectElement;
}

// The element of a custom select that opens its list: the element itself
// when it is the combobox, else the combobox inside it or beside it (the
// hidden input of MUI's Select sits beside its `div[role=combobox]`).
const OPENER = "[role=combobox],[aria-haspopup=listbox],[aria-haspopup=true],.ant-select-selector,.select2-selection";
function opener(el) {
  if (el.matches(OPENER)) return el;
  return el.querySelector(OPENER) || (el.parentElement && el.parentElement.querySelector(OPENER)) || el;
}

const lastRects = new Map();
// Why op's element cannot be used yet ("" when it can).
function blocker(op, el) {
  if (!el) return "nothing on the page matches it";
  switch (op.op) {
    case "wait_for":
      if (!shown(el)) return "it is not visible";
      if (op.text != null && !el.textContent.includes(op.text)) return "it does not hold the text " + JSON.stringify(op.text);
      return "";
    case "fill":
      if (el.disabled) return "it is disabled";
      if (el.readOnly) return "it is read-only";
      return "";
    case "select":
      if (isNativeSelect(el)) return el.disabled ? "it is disabled" : "";
      return unactionable(opener(el), lastRects);
    case "check":
      return unactionable(checkTarget(el), lastRects);
    case "find":
      return unactionable(el, lastRects);
    default:
      return "";
  }
}

// Whether the page after op `i` has settled enough to decide an optional op
// `i` (reported_if, click_if_present) by its element's absence: a later
// reported_if element is there, or the next op that must find its element
// can use it.
function settledAfter(i) {
  for (let j = i + 1; j < ops.length; j++) {
    const op = ops[j];
    if (op.op === "reported_if") {
      if (find(op.loc)) return true;
      continue;
    }
    if (op.op === "click_if_present" || op.op === "wait_gone" || (op.op === "fill" && op.optional)) continue;
    return !blocker(op, find(op.loc));
  }
  return true;
}

const deadline = Date.now() + timeoutMs;
let faultSince = 0;
let found = null;
let i = 0;

function wait(op, why) {
  const fault = pageRequestFault();
  if (fault) {
    faultSince = faultSince || Date.now();
    // The page had a second to show what it shows after a failed request.
    if (Date.now() - faultSince > 1000) return done(["http", fault]);
  }
  if (Date.now() > deadline) return done(["missing", op.index, why]);
  // A box is compared with itself a moment later: soon, the first time.
  setTimeout(step, why === "it is still moving" ? 20 : 50);
}

function step() {
  try {
    const state = net();
    if (avoidDoc && state.doc === avoidDoc) return done(["same-document"]);
    const status = httpStatus();
    if (status >= 400) return done(["http", status]);
    while (i < ops.length) {
      if (loginForm && loginForm.some((l) => find(l))) return done(["login"]);
      const op = ops[i];
      const el = find(op.loc);
      if (op.op === "reported_if" || op.op === "click_if_present") {
        // Decide once this element is there, or what follows it is.
        if (!el && !settledAfter(i) && Date.now() <= deadline) return wait(op, "");
        if (el && op.op === "reported_if") return done(["reported"]);
        if (el) el.click();
        i++;
        continue;
      }
      if (op.op === "wait_gone") {
        if (shown(el)) return wait(op, "it is still shown");
        i++;
        continue;
      }
      if (op.op === "fill" && op.optional && !el) {
        i++;
        continue;
      }
      const why = blocker(op, el);
      if (why) return wait(op, why);
      switch (op.op) {
        case "fill":
          setValue(el, op.value);
          break;
        case "select": {
          if (!isNativeSelect(el)) {
            i++;
            return done(["widget", op.index, opener(el)]);
          }
          const options = [...el.options];
          const option = op.by === "index" ? options[Number(op.value)]
            : op.by === "text" ? options.find((o) => o.textContent.trim() === op.value)
            : options.find((o) => o.value === op.value);
          if (!option) return done(["option", op.index]);
          setValue(el, option.value);
          break;
        }
        case "check": {
          if (el.checked !== op.checked) checkTarget(el).click();
          if (el.checked !== op.checked) {
            el.checked = op.checked;
            el.dispatchEvent(new Event("change", { bubbles: true }));
          }
          break;
        }
        case "find":
          found = el;
          break;
      }
      i++;
    }
    done(["ok", found, { doc: state.doc, seq: state.seq, url: location.href }]);
  } catch (err) {
    done(["error", i < ops.length ? ops[i].index : -1, String(err && err.message || err)]);
  }
}

step();
