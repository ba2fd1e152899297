// A `select` step on a custom widget (a `role=combobox`, MUI, Ant, Headless
// UI or Select2 select), after the caller opened it with a real click. Run by
// "execute async script" with (widget, by, value, optionText, timeoutMs,
// phase, done); `find.js` and `net.js` come before it.
//
// phase "pick": waits for the widget's list to open and settle, and answers
//   ["option", element, text]  the option to click, holding still and not covered
//   ["closed"]                 no list is open (the click did not open it)
//   ["no-option", shown]       the open list has no such option; its options' texts
//   ["busy", why]              the option is there but cannot take a click in time
// phase "check": waits until the widget shows the option picked:
//   ["ok"] or ["shows", text]
const [widget, by, value, optionText, timeoutMs, phase, done] = arguments;

const deadline = Date.now() + timeoutMs;
const lastRects = new Map();
const text = (el) => (el.textContent || "").replace(/\s+/g, " ").trim();
const shown = (el) => !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";

function listbox() {
  const id = widget.getAttribute("aria-controls") || widget.getAttribute("aria-owns");
  const own = id && document.getElementById(id);
  if (own && shown(own)) return own;
  const open = [...document.querySelectorAll(
    "[role=listbox], .ant-select-dropdown:not(.ant-select-dropdown-hidden), .select2-results__options, [role=menu]",
  )].filter(shown);
  return open[open.length - 1] || null;
}

function options(box) {
  const marked = [...box.querySelectorAll("[role=option], .ant-select-item-option, .select2-results__option")];
  return (marked.length ? marked : [...box.querySelectorAll("li")]).filter(shown);
}

function matches(option, n) {
  if (by === "index") return n === Number(value);
  if (by === "text") return text(option) === value || option.getAttribute("title") === value;
  return [option.getAttribute("data-value"), option.getAttribute("value"), option.dataset && option.dataset.key]
    .includes(value);
}

function pick(openedAt) {
  const box = listbox();
  if (!box) {
    if (Date.now() - openedAt > 1500 || Date.now() > deadline) return done(["closed"]);
    return setTimeout(() => pick(openedAt), 50);
  }
  const all = options(box);
  const option = all.find(matches);
  if (!option) {
    if (Date.now() > deadline || (all.length && Date.now() - openedAt > 1500)) {
      return done(["no-option", all.slice(0, 20).map(text)]);
    }
    return setTimeout(() => pick(openedAt), 50);
  }
  const why = unactionable(option, lastRects);
  if (!why) return done(["option", option, text(option)]);
  if (Date.now() > deadline) return done(["busy", why]);
  setTimeout(() => pick(openedAt), 50);
}

function showsChoice() {
  const want = optionText || value;
  if (want && text(widget).includes(want)) return true;
  const input = (widget.parentElement || widget).querySelector("input, select");
  return by === "value" && !!input && input.value === value;
}

function check() {
  if (showsChoice() && !(widget.getAttribute("aria-expanded") === "true" && listbox())) return done(["ok"]);
  if (Date.now() > deadline) return done(["shows", text(widget).slice(0, 100)]);
  setTimeout(check, 50);
}

try {
  if (phase === "pick") pick(Date.now());
  else check();
} catch (err) {
  done(["error", String(err && err.message || err)]);
}
