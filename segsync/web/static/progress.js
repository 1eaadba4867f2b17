/* Live progress of a run (or of a preview reading the server): polls the JSON status named by
   the page's data-status-url, shows the numbers, and reloads the page when the work has ended
   (the server then renders the outcome). The numbers change silently; a screen reader hears
   the page's status once when the page loads (so also the finished result after the reload)
   and then only when the phase changes (reading, sending, stopping), through the one live
   region marked data-announce. Served as a file: the CSP allows no inline script. Values are
   written with textContent only. */
(function () {
  "use strict";
  // the page's live region is empty when the page loads (a live region's first content is not
  // read out); it gets the page's status once, then again only when the phase changes
  var live = document.querySelector("[data-announce]");
  var said = "";

  function announce(text) {
    if (live && text && text !== said) {
      said = text;
      live.textContent = text;
    }
  }

  if (live) {
    window.setTimeout(function () {
      announce(live.getAttribute("data-announce"));
    }, 400);
  }

  var panel = document.querySelector("[data-status-url]");
  if (!panel) {
    return;
  }
  var phase = "";
  var url = panel.getAttribute("data-status-url");
  var every = parseInt(panel.getAttribute("data-poll-ms") || "1000", 10) || 1000;

  function put(name, text) {
    var nodes = panel.querySelectorAll('[data-field="' + name + '"]');
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = text;
    }
  }

  function number(n) {
    return typeof n === "number" ? n.toLocaleString("en") : "–";
  }

  function duration(s) {
    if (typeof s !== "number") {
      return "–";
    }
    var total = Math.round(s);
    if (total < 60) {
      return total + " s";
    }
    var minutes = Math.floor(total / 60);
    if (minutes < 60) {
      return minutes + " min " + String(total % 60).padStart(2, "0") + " s";
    }
    return Math.floor(minutes / 60) + " h " + String(minutes % 60).padStart(2, "0") + " min";
  }

  function show(s) {
    put("done", number(s.done));
    put("total", number(s.total));
    put("rate", typeof s.rate === "number" ? s.rate.toFixed(1) : "–");
    put("eta", duration(s.eta_s));
    put("retries", number(s.retries));
    put("throttled", number(s.throttled));
    put("requests", number(s.requests));
    var bar = panel.querySelector("progress");
    if (bar && s.total) {
      bar.max = s.total;
      bar.value = s.done;
    }
    var line = document.querySelector('[data-testid="run-status"]');
    if (line && s.text) {
      line.textContent = s.text;
    }
    var now = (s.phase || "") + (s.stopping ? " stopping" : "");
    if (phase && now !== phase && s.text) {
      announce(s.text);
    }
    phase = now;
  }

  function tick() {
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (s) {
        if (s.state !== "running") {
          window.location.reload();
          return;
        }
        show(s);
        window.setTimeout(tick, every);
      })
      .catch(function () {
        window.setTimeout(tick, every * 3);
      });
  }

  window.setTimeout(tick, every);
})();
