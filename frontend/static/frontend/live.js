// Live progress of an evaluation over the WebSocket (/ws/): the session cookie authenticates the connection, the
// page subscribes to "evaluation:<id>" and moves the progress bar, current model, ETA and result rows as events
// arrive. Every value from the server is written with textContent: model names and task ids are never HTML.
"use strict";
(function () {
  var FINISHED = ["completed", "failed", "cancelled"];
  var MAX_ROWS = 200;

  function $(id) { return document.getElementById(id); }

  function PortalLive(state) {
    this.state = state;
    this.events = 0;
    this.attempts = 0;
    this.startedAt = state.started_at ? Date.parse(state.started_at) : null;
  }

  PortalLive.prototype.connect = function () {
    var self = this;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws/");
    this.socket = socket;
    socket.addEventListener("open", function () {
      self.attempts = 0;
      $("live-connection").textContent = "connected";
    });
    socket.addEventListener("message", function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      self.handle(data);
    });
    socket.addEventListener("close", function () {
      $("live-connection").textContent = "offline";
      if (FINISHED.indexOf(self.state.status) >= 0) return;
      self.attempts += 1;
      window.setTimeout(function () { self.connect(); }, Math.min(10000, 500 * Math.pow(2, self.attempts)));
    });
  };

  PortalLive.prototype.handle = function (data) {
    switch (data.type) {
      case "auth":
        this.socket.send(JSON.stringify({ type: "subscribe", channel: this.state.channel }));
        break;
      case "subscribed":
        $("live-connection").textContent = "live";
        this.sync();
        break;
      case "progress": this.count(); this.progress(data); break;
      case "result": this.count(); this.result(data); break;
      case "complete": this.count(); this.finish(data.status); break;
      case "error":
        if (data.code === "unauthenticated" || data.code === "not_found") {
          $("live-connection").textContent = "not allowed";
          return;
        }
        this.count();
        this.showError(data.message || data.type);
        if (data.type === "cancelled" || data.type === "failed") this.finish(data.type === "failed" ? "failed" : "cancelled");
        break;
      default: break;
    }
  };

  PortalLive.prototype.count = function () {
    this.events += 1;
    $("live-events").textContent = String(this.events);
    $("live").setAttribute("data-live-events", String(this.events));
  };

  // Events published before the subscription are lost: read the row once the subscription stands.
  PortalLive.prototype.sync = function () {
    var self = this;
    fetch(this.state.api_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (row) {
        if (!row) return;
        if (row.started_at) self.startedAt = Date.parse(row.started_at);
        self.progress({ completed_samples: row.completed_samples, total_samples: row.total_samples,
                        current_model: row.current_model });
        self.setStatus(row.status);
        if (FINISHED.indexOf(row.status) >= 0) self.finish(row.status);
      })
      .catch(function () { /* the next event brings the numbers anyway */ });
  };

  PortalLive.prototype.progress = function (data) {
    if (typeof data.completed_samples === "number") {
      this.state.completed_samples = Math.max(this.state.completed_samples, data.completed_samples);
    }
    if (typeof data.total_samples === "number" && data.total_samples > 0) this.state.total_samples = data.total_samples;
    var done = this.state.completed_samples, total = this.state.total_samples;
    var fraction = total ? done / total : (data.progress || 0);
    $("live-bar").style.width = (Math.min(1, fraction) * 100).toFixed(1) + "%";
    $("live-completed").textContent = String(done);
    $("live-total").textContent = String(total);
    if (data.current_model) $("live-model").textContent = data.current_model;
    if (FINISHED.indexOf(this.state.status) < 0) this.setStatus("running");
    this.eta(done, total);
  };

  PortalLive.prototype.eta = function (done, total) {
    if (!this.startedAt) this.startedAt = Date.now();
    if (!done || done >= total) { $("live-eta").textContent = done >= total && total ? "done" : "—"; return; }
    var elapsed = Date.now() - this.startedAt;
    var remaining = elapsed / done * (total - done);
    $("live-eta").textContent = new Date(Date.now() + remaining).toLocaleTimeString() +
      " (" + Math.max(1, Math.round(remaining / 1000)) + " s left)";
  };

  PortalLive.prototype.result = function (data) {
    var body = $("live-results");
    var row = document.createElement("tr");
    [data.task_id, data.model, data.passed_samples + "/" + data.samples, data.passed ? "passed" : "failed"]
      .forEach(function (value) {
        var cell = document.createElement("td");
        cell.textContent = String(value);
        row.appendChild(cell);
      });
    row.className = data.passed ? "verdict-pass" : "verdict-fail";
    body.insertBefore(row, body.firstChild);
    while (body.children.length > MAX_ROWS) body.removeChild(body.lastChild);
  };

  PortalLive.prototype.setStatus = function (status) {
    this.state.status = status;
    var element = $("live-status");
    element.textContent = status;
    element.className = "status status-" + status;
  };

  PortalLive.prototype.showError = function (message) {
    var element = $("live-error");
    element.textContent = message;
    element.hidden = false;
  };

  PortalLive.prototype.finish = function (status) {
    this.setStatus(status);
    if (status === "completed") {
      this.state.completed_samples = this.state.total_samples;
      this.progress({});
    }
    $("live-eta").textContent = "—";
    var done = $("live-done");
    done.hidden = false;
    done.firstChild.textContent = "This evaluation is " + status + ". ";
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: "unsubscribe", channel: this.state.channel }));
    }
  };

  document.addEventListener("DOMContentLoaded", function () {
    var source = $("live-state");
    if (!source) return;
    var state = JSON.parse(source.textContent);
    var live = new PortalLive(state);
    window.portalLive = live;
    if (!state.finished) live.connect();
  });
})();
