// Live progress of an evaluation, or of a tuning job, over the WebSocket (/ws/): the session cookie authenticates the
// connection, the page subscribes to "evaluation:<id>" (or "tuning:<id>") and moves the progress bar, current model,
// ETA and result rows (or stage, step, losses and the loss curve) as events arrive. Every value from the server is
// written with textContent: model names and task ids are never HTML.
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

  // A tuning job's page: "tuning:<id>" carries tuning_update events (status, stage, progress, step, loss). They move
  // the bar and extend the loss curve; the full curve is read once from the API after subscribing and at the end.
  function TuningLive(state) {
    this.state = state;
    this.events = 0;
    this.attempts = 0;
    this.lastStep = state.last_step || 0;
    this.lastValidation = null;
  }

  TuningLive.prototype.connect = PortalLive.prototype.connect;
  TuningLive.prototype.count = PortalLive.prototype.count;
  TuningLive.prototype.setStatus = PortalLive.prototype.setStatus;
  TuningLive.prototype.showError = PortalLive.prototype.showError;

  TuningLive.prototype.handle = function (data) {
    switch (data.type) {
      case "auth":
        this.socket.send(JSON.stringify({ type: "subscribe", channel: this.state.channel }));
        break;
      case "subscribed":
        $("live-connection").textContent = "live";
        this.sync();
        break;
      case "tuning_update":
        this.count();
        this.show(data);
        this.extend(data);
        if (data.message) this.showError(data.message);
        if (FINISHED.indexOf(data.status) >= 0) this.finish();
        break;
      case "error":
        if (data.code === "unauthenticated" || data.code === "not_found") $("live-connection").textContent = "not allowed";
        break;
      default: break;
    }
  };

  function lossText(value) { return typeof value === "number" ? value.toFixed(4) : "—"; }

  TuningLive.prototype.show = function (data) {
    if (data.status) this.setStatus(data.status);
    if (data.stage) $("tuning-stage").textContent = data.stage;
    if (typeof data.progress === "number") $("live-bar").style.width = (Math.min(1, data.progress) * 100).toFixed(1) + "%";
    if (typeof data.step === "number") $("tuning-step").textContent = String(data.step);
    if (typeof data.total_steps === "number") $("tuning-total").textContent = String(data.total_steps);
    $("tuning-loss").textContent = lossText(data.loss);
    $("tuning-validation-loss").textContent = lossText(data.validation_loss);
  };

  TuningLive.prototype.chart = function () {
    var element = $("loss-curve");
    return window.Plotly && element && element.getAttribute("data-rendered") === "true" ? element : null;
  };

  // Events come at most once a second: each adds the latest step (and a new validation loss) to the curve.
  TuningLive.prototype.extend = function (data) {
    var element = this.chart();
    if (!element || typeof data.step !== "number" || data.step <= this.lastStep || typeof data.loss !== "number") return;
    this.lastStep = data.step;
    window.Plotly.extendTraces(element, { x: [[data.step]], y: [[data.loss]] }, [0]);
    if (typeof data.validation_loss === "number" && data.validation_loss !== this.lastValidation) {
      this.lastValidation = data.validation_loss;
      window.Plotly.extendTraces(element, { x: [[data.step]], y: [[data.validation_loss]] }, [1]);
    }
  };

  TuningLive.prototype.sync = function () {
    var self = this;
    fetch(this.state.api_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (row) {
        if (!row) return;
        self.show({ status: row.status, stage: row.stage, progress: row.progress, step: row.current_step,
                    total_steps: row.total_steps, loss: row.loss, validation_loss: row.validation_loss });
        self.redraw(row.loss_curve || []);
        if (row.error_message) self.showError(row.error_message);
        if (FINISHED.indexOf(row.status) >= 0) self.finish();
      })
      .catch(function () { /* the next event brings the numbers anyway */ });
  };

  TuningLive.prototype.redraw = function (curve) {
    var element = this.chart();
    if (!element) return;
    var validated = curve.filter(function (p) { return typeof p.validation_loss === "number"; });
    var steps = function (p) { return p.step; };
    window.Plotly.restyle(element, {
      x: [curve.map(steps), validated.map(steps)],
      y: [curve.map(function (p) { return p.loss; }), validated.map(function (p) { return p.validation_loss; })]
    }, [0, 1]);
    if (curve.length) this.lastStep = curve[curve.length - 1].step;
    $("loss-steps").textContent = curve.length + " step" + (curve.length === 1 ? "" : "s") + " recorded";
  };

  TuningLive.prototype.finish = function () {
    if (this.finished) return;
    this.finished = true;
    var cancel = $("tuning-cancel");
    if (cancel) cancel.hidden = true;
    this.sync();
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: "unsubscribe", channel: this.state.channel }));
    }
  };

  document.addEventListener("DOMContentLoaded", function () {
    var source = $("live-state");
    if (source) {
      var state = JSON.parse(source.textContent);
      var live = new PortalLive(state);
      window.portalLive = live;
      if (!state.finished) live.connect();
    }
    var tuning = $("tuning-state");
    if (tuning) {
      var tuningState = JSON.parse(tuning.textContent);
      window.tuningLive = new TuningLive(tuningState);
      if (!tuningState.finished) window.tuningLive.connect();
    }
  });
})();
