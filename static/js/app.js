// Tiny progressive enhancements; every page works without JavaScript.
(function () {
  "use strict";
  // Stop double submits (a second tap on "claim" or "pay" while the first request is on its way).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.submitted === "1" && !form.hasAttribute("data-allow-resubmit")) {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "1";
    form.classList.add("is-submitting");
  });
  // Page restored from the back/forward cache: forms may be used again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      delete form.dataset.submitted;
      form.classList.remove("is-submitting");
    });
  });
  // Dismissible messages.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss]");
    if (button) {
      var box = button.closest(".alert");
      if (box) box.remove();
    }
  });
})();
