/* docstream desk: small enhancements. Every page works without this file. */
(function () {
  "use strict";

  // Buttons that ask first: <button data-confirm="Delete …?">
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Grid rows: remove in place (without JavaScript the button asks the server to re-show the form).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-remove-row]");
    if (!button) return;
    event.preventDefault();
    var row = button.closest("tr");
    if (row) row.remove();
  });

  // Copy buttons: <button data-copy="element-id">
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent.trim();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
    } else {
      selectText(source);
      try { document.execCommand("copy"); done(); } catch (e) { /* selected: the user can copy */ }
    }
  });

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // A status select shows its colour as it changes.
  var COLOURS = { Pending: "orange", Approved: "green", Rejected: "red", Open: "orange", Closed: "green", Cancelled: "red" };
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.classList || !select.classList.contains("indicator-select")) return;
    ["orange", "green", "red", "gray"].forEach(function (c) { select.classList.remove(c); });
    select.classList.add(COLOURS[select.value] || "gray");
  });
})();
