// Order page: while the rebates are being computed, ask the server once a second and swap in the result.
// Without JavaScript the page says so and offers a reload link; nothing here is needed for it to be correct.
(function () {
  "use strict";
  var INTERVAL_MS = 1000;
  var GIVE_UP_AFTER_MS = 10 * 60 * 1000; // a worker that is down for long: stop hammering, the page says how to reload

  function watch(box) {
    var url = box.getAttribute("data-url");
    var started = Date.now();
    var timer = null;

    function schedule() {
      if (Date.now() - started > GIVE_UP_AFTER_MS) return;
      timer = window.setTimeout(poll, INTERVAL_MS);
    }

    function poll() {
      timer = null;
      if (document.hidden) { schedule(); return; }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          if (data.state === "computing") { schedule(); return; }
          var holder = document.createElement("div");
          holder.innerHTML = data.html;
          var fresh = holder.querySelector("[data-order-status]");
          if (fresh) box.replaceWith(fresh);
        })
        .catch(schedule); // network blip or server restart: try again on the next tick
    }

    schedule();
  }

  function start() {
    document.querySelectorAll('[data-order-status][data-state="computing"]').forEach(watch);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
