// Checkout: keep the "red packet", "points" and "to pay" lines in step with the chosen packet and the points typed.
// The server computes the real amounts again when the order is placed; this is only the preview. Money in integer
// fen, never floats. Points the order would refuse (more than usable, not whole steps, not a number) count as none
// here; the server says why next to the field.
(function () {
  "use strict";
  function yuan(fen) {
    var s = String(Math.floor(Math.abs(fen) / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var cents = String(Math.abs(fen) % 100);
    return "¥" + s + "." + (cents.length < 2 ? "0" + cents : cents);
  }
  function typedPoints(value) {
    // Full-width digits from a Chinese keyboard, spaces and thousands separators, as the server accepts them.
    var text = value.replace(/[\uFF10-\uFF19]/g, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xfee0);
    }).replace(/[\s,，]/g, "");
    return /^\d{1,12}$/.test(text) ? parseInt(text, 10) : null;
  }
  function update(form) {
    var gross = parseInt(form.querySelector("[data-gross-fen]").getAttribute("data-gross-fen"), 10);
    var chosen = form.querySelector('input[name="packet"]:checked');
    var discount = chosen ? parseInt(chosen.getAttribute("data-discount-fen") || "0", 10) : 0;
    var pointsFen = 0;
    var box = form.querySelector("[data-points]");
    var input = form.querySelector('input[name="points"]');
    if (box && input && chosen) {
      var most = parseInt(chosen.getAttribute("data-points-usable") || "0", 10);
      var perCny = parseInt(box.getAttribute("data-per-cny"), 10);
      var step = parseInt(box.getAttribute("data-step"), 10);
      var usableOut = box.querySelector("[data-points-usable-out]");
      if (usableOut) usableOut.textContent = chosen.getAttribute("data-points-usable-text");
      var mostButton = box.querySelector("[data-points-most]");
      if (mostButton) mostButton.setAttribute("data-most", String(most));
      var points = typedPoints(input.value);
      if (points !== null && points <= most && points % step === 0) pointsFen = Math.floor((points * 100) / perCny);
    }
    form.querySelector("[data-discount-out]").textContent = "−" + yuan(discount);
    var pointsOut = form.querySelector("[data-points-out]");
    if (pointsOut) pointsOut.textContent = "−" + yuan(pointsFen);
    form.querySelector("[data-pay-out]").textContent = yuan(gross - discount - pointsFen);
  }
  document.querySelectorAll("form[data-checkout]").forEach(function (form) {
    form.addEventListener("change", function (event) {
      if (event.target.name === "packet" || event.target.name === "points") update(form);
    });
    form.addEventListener("input", function (event) {
      if (event.target.name === "points") update(form);
    });
    var mostButton = form.querySelector("[data-points-most]");
    if (mostButton) {
      mostButton.hidden = false;
      mostButton.addEventListener("click", function () {
        var input = form.querySelector('input[name="points"]');
        input.value = mostButton.getAttribute("data-most") || "0";
        update(form);
        input.focus();
      });
    }
    update(form);
  });
})();
