// Finds one element by a locator {kind, value}: CSS by default, or XPath, id,
// name, link text, partial link text (Selenium's locator kinds). `root` is
// the document, or a parsed page.
function find(loc, root) {
  root = root || document;
  if (!loc) return null;
  switch (loc.kind) {
    case undefined:
      return null;
    case "xpath":
      return root.evaluate(loc.value, root, null,
        XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
    case "id":
      return root.getElementById(loc.value);
    case "name":
      return root.getElementsByName(loc.value)[0] || null;
    case "linkText":
      return [...root.querySelectorAll("a")]
        .find((a) => a.textContent.trim() === loc.value) || null;
    case "partialLinkText":
      return [...root.querySelectorAll("a")]
        .find((a) => a.textContent.includes(loc.value)) || null;
    default:
      return root.querySelector(loc.value);
  }
}

// The HTTP status of the page's own load (0 when the browser does not say).
function httpStatus() {
  const nav = performance.getEntriesByType("navigation")[0];
  return nav && nav.responseStatus ? nav.responseStatus : 0;
}
