// Copy buttons: <button data-copy="#input-id" data-copied-text="…" data-failed-text="…">. The text is copied with the
// Clipboard API where the page may use it (HTTPS or localhost), else by selecting the input and execCommand("copy");
// when both fail the input stays selected so a long press copies it. The result is announced in [data-copy-status].
(function () {
  "use strict";
  function announce(button, text) {
    var status = button.closest(".card, form, body").querySelector("[data-copy-status]");
    if (status) status.textContent = text;
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    button.textContent = text.length <= 12 ? text : label;
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }
  function fallback(input) {
    input.focus();
    input.select();
    input.setSelectionRange(0, input.value.length);
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var input = document.querySelector(button.getAttribute("data-copy"));
    if (!input) return;
    var ok = button.getAttribute("data-copied-text") || "Copied";
    var failed = button.getAttribute("data-failed-text") || "Copy failed";
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(
        function () { announce(button, ok); },
        function () { announce(button, fallback(input) ? ok : failed); }
      );
    } else {
      announce(button, fallback(input) ? ok : failed);
    }
  });
})();
