/* The manager's and retention pages: local times, confirmations, filters that apply at
   once, and the live dashboard, which reads /api/campaigns/{name}/live every 2 s. */
(function () {
  "use strict";

  // Times arrive in UTC; show them in the viewer's zone, keeping UTC in the tooltip.
  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.title = el.getAttribute("datetime").slice(0, 19).replace("T", " ") + " UTC";
      el.textContent = when.toLocaleString([], {
        year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
      });
    });
  }

  function confirmations() {
    document.addEventListener("submit", function (event) {
      var button = event.submitter;
      var message = button && button.getAttribute("data-confirm");
      if (message && !window.confirm(message)) event.preventDefault();
    });
  }

  function autosubmit() {
    document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
      form.addEventListener("change", function (event) {
        // a new campaign has other segments, offers and agents: drop the old filters
        if (event.target.name === "campaign") {
          form.querySelectorAll("select:not([name=campaign])").forEach(function (s) { s.value = ""; });
        }
        form.submit();
      });
    });
  }

  function format(value, kind) {
    if (value === null || value === undefined) return "–";
    if (kind === "pct") return (100 * value).toFixed(value < 0.1 ? 2 : 1) + "%";
    if (kind === "dec") return Number(value).toFixed(2);
    return typeof value === "number" ? value.toLocaleString() : String(value);
  }

  function clock(seconds) {
    var s = Math.max(0, Math.round(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    if (text instanceof Node) td.appendChild(text); else td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function showAgents(agents) {
    var body = document.getElementById("agents");
    if (!body) return;
    body.replaceChildren();
    agents.list.forEach(function (a) {
      var row = document.createElement("tr");
      var badge = document.createElement("span");
      badge.className = "state state-" + a.state;
      badge.textContent = a.state + (a.pause_code ? " (" + a.pause_code + ")" : "");
      cell(row, a.agent);
      cell(row, badge);
      cell(row, clock(a.seconds_in_state), "num");
      body.appendChild(row);
    });
    if (!agents.list.length) {
      var empty = document.createElement("tr");
      cell(empty, "No agent is logged in to this campaign.", "muted").colSpan = 3;
      body.appendChild(empty);
    }
    document.querySelectorAll("[data-live-count]").forEach(function (el) {
      el.textContent = agents.by_state[el.getAttribute("data-live-count")] || 0;
    });
  }

  function show(live) {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var key = el.getAttribute("data-live");
      if (!(key in live)) return;
      if (el.tagName === "TIME") {
        el.setAttribute("datetime", live[key]);
        localTimes(el.parentNode);
      } else {
        el.textContent = format(live[key], el.getAttribute("data-format"));
      }
    });
    var status = document.querySelector("[data-live=status]");
    if (status) status.className = "status status-" + live.status;
    document.querySelectorAll("[data-action]").forEach(function (el) {
      el.hidden = live.actions.indexOf(el.getAttribute("data-action")) < 0;
    });
    var tile = document.querySelector("[data-live-tile=abandon]");
    if (tile) tile.classList.toggle("tile-alarm", !!live.over_abandon_limit);
    var meter = document.querySelector("[data-live-meter]");
    if (meter) meter.value = live.abandon_rate || 0;
    showAgents(live.agents);
  }

  function poll(box) {
    var url = box.getAttribute("data-url");
    var problem = document.querySelector("[data-live-error]");
    var failures = 0;
    function tick() {
      if (document.hidden) return; // no polling from a background tab
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 401) { window.location.reload(); return null; }
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (live) {
          if (!live) return;
          failures = 0;
          if (problem) problem.hidden = true;
          show(live);
        })
        .catch(function () {
          failures += 1;
          if (problem && failures > 1) problem.hidden = false;
        });
    }
    window.setInterval(tick, 2000);
    document.addEventListener("visibilitychange", tick);
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    confirmations();
    autosubmit();
    var box = document.getElementById("live");
    if (box) poll(box);
  });
})();
