// The big screen, live: fetch /hall/board.json every two seconds and update
// the page in place; a newly called ticket flashes. Without this script the
// page reloads itself (<noscript> refresh), so nothing here is required.
(function () {
  "use strict";
  var INTERVAL = 2000;

  function text(el, value) {
    var s = value === null || value === undefined ? "—" : String(value);
    if (el && el.textContent !== s) { el.textContent = s; return true; }
    return false;
  }

  function render(board) {
    text(document.getElementById("clock"), board.at.slice(11, 16));
    board.windows.forEach(function (w) {
      var card = document.querySelector('[data-window="' + w.code + '"]');
      if (!card) { return; }
      var changed = text(card.querySelector('[data-field="now_serving"]'), w.now_serving);
      card.classList.toggle("busy", !!w.now_serving);
      if (changed && w.now_serving) {
        card.classList.remove("just-called");
        void card.offsetWidth;  // restart the animation
        card.classList.add("just-called");
      }
    });
    board.queues.forEach(function (q) {
      var row = document.querySelector('[data-queue="' + q.code + '"]');
      if (!row) { return; }
      text(row.querySelector('[data-field="waiting"]'), q.waiting);
      text(row.querySelector('[data-field="estimated_wait_minutes"]'), q.estimated_wait_minutes);
    });
    board.departments.forEach(function (d) {
      var li = document.querySelector('[data-department="' + d.code + '"]');
      if (!li) { return; }
      li.className = "light " + (!d.known ? "unknown" : d.red ? "red" : d.yellow ? "yellow" : "green");
      text(li.querySelector(".red-count"), d.known ? d.red : null);  // unknown is not green
      text(li.querySelector(".yellow-count"), d.known ? d.yellow : null);
    });
    document.body.setAttribute("data-updated", board.at);
  }

  function poll() {
    fetch("/hall/board.json", {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(render)
      .catch(function () { document.body.setAttribute("data-stale", "true"); })
      .then(function () { window.setTimeout(poll, INTERVAL); });
  }

  window.setTimeout(poll, INTERVAL);
}());
