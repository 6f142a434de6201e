// The console's only script (CSP: script-src 'self'; no inline code).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Blurred evidence: the first click reveals, a second opens the full image.
  document.querySelectorAll("button.evidence").forEach(function (b) {
    b.addEventListener("click", function () {
      if (b.classList.contains("blurred")) {
        b.classList.remove("blurred");
        b.classList.add("revealed");
        b.title = "click to open the full image";
      } else {
        window.open(b.dataset.full, "_blank", "noopener");
      }
    });
  });
  // Decide form: highlight what the chosen violation will do.
  var form = document.getElementById("decide-form");
  if (form) {
    var update = function () {
      document.querySelectorAll("tr.preview").forEach(function (r) { r.classList.remove("chosen"); });
      var picked = form.querySelector("input[name=violation]:checked");
      if (picked) {
        var row = document.getElementById(picked.dataset.preview);
        if (row) { row.classList.add("chosen"); }
      }
      var sev = document.getElementById("severity");
      var hint = document.getElementById("severity-hint");
      var opt = sev && sev.selectedOptions[0];
      hint.textContent = opt && opt.dataset.rule ? "With severity " + opt.value + ": " + opt.dataset.rule : "";
    };
    form.addEventListener("change", update);
    update();
  }
});
