// Lucky money room: grab without leaving the page, and see others' sends and grabs every few seconds.
// Without JavaScript the grab form posts and the room reloads; nothing here is needed for it to be correct.
(function () {
  "use strict";
  var INTERVAL_MS = 3000;

  function csrf(form) { return form.querySelector("input[name=csrfmiddlewaretoken]").value; }

  function replace(html) {
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var fresh = holder.firstElementChild;
    var old = document.getElementById(fresh.id);
    if (old) old.replaceWith(fresh);
    return fresh;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("[data-grab]");
    if (!form) return;
    event.preventDefault();
    var button = form.querySelector("button");
    button.classList.add("is-opening");
    fetch(form.action, { method: "POST", credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrf(form) } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (!data.html) { form.parentNode.querySelector("[data-grab-result]").textContent = data.message; return; }
        var fresh = replace(data.html);
        fresh.querySelector("[data-grab-result]").textContent = data.message;
      })
      .catch(function () { form.submit(); });
  });

  function poll(timeline) {
    var url = timeline.getAttribute("data-url") + "?since=" + encodeURIComponent(timeline.getAttribute("data-cursor"));
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) { if (!response.ok) throw new Error("HTTP " + response.status); return response.json(); })
      .then(function (data) {
        timeline.setAttribute("data-cursor", data.cursor);
        data.packets.forEach(function (p) {
          if (document.getElementById(p.dom_id)) { replace(p.html); return; }
          var empty = timeline.querySelector("[data-empty]");
          if (empty) empty.remove();
          timeline.insertAdjacentHTML("afterbegin", p.html);
        });
      })
      .catch(function () {})
      .then(function () { window.setTimeout(function () { poll(timeline); }, INTERVAL_MS); });
  }

  function start() {
    document.querySelectorAll("[data-timeline]").forEach(function (timeline) {
      window.setTimeout(function () { poll(timeline); }, INTERVAL_MS);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
