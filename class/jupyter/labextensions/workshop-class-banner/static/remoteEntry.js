// The class's banner, shown in the toolbar at the top of every notebook panel: whether the
// learner's local cloud is up and the facilitator's note. JupyterLab loads a prebuilt
// extension as a module-federation container (window._JUPYTERLAB[name] with init and get);
// this one needs no shared module, so it is written by hand and needs no build step.
// It reads the learner's own server (`workshop/status`, workshop.classroom.status).
(function () {
  "use strict";
  var NAME = "workshop-class-banner";
  var EVERY_MS = 10000;

  function widgetClass(widget) {
    // Lumino's Widget is the root of every widget's class chain: found without importing it.
    var cls = widget.constructor;
    while (Object.getPrototypeOf(cls) !== Function.prototype && Object.getPrototypeOf(cls)) {
      cls = Object.getPrototypeOf(cls);
    }
    return cls;
  }

  function render(node, status) {
    node.textContent = "";
    var cloud = document.createElement("span");
    cloud.className = "workshop-class-cloud";
    var up = status && status.cloud && status.cloud.up;
    cloud.textContent = up ? "Local cloud: up" : (status ? "Local cloud: not answering" : "Local cloud: …");
    cloud.title = status && status.cloud ? status.cloud.endpoint : "";
    cloud.style.cssText = "padding:1px 6px;border-radius:3px;margin-right:6px;color:#fff;background:" +
      (up ? "#1d8102" : "#d13212");
    node.appendChild(cloud);
    if (status && status.note) {
      var note = document.createElement("span");
      note.className = "workshop-class-note";
      note.textContent = "Facilitator: " + status.note;
      note.title = status.note;
      note.style.cssText = "padding:1px 6px;border-radius:3px;background:#fff7e0;border:1px solid #f0c36d;" +
        "color:#16191f;max-width:60vw;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;display:inline-block;" +
        "vertical-align:middle";
      node.appendChild(note);
    }
  }

  var plugin = {
    id: NAME + ":banner",
    description: "The local cloud's state and the facilitator's note at the top of each notebook.",
    autoStart: true,
    activate: function (app) {
      var settings = app.serviceManager.serverSettings;
      var banners = [];
      var last = null;

      function attach(panel) {
        if (!panel || !panel.node || !panel.node.classList.contains("jp-NotebookPanel") || !panel.toolbar) return;
        if (panel.node.querySelector(".workshop-class-banner")) return;
        var Widget = widgetClass(panel.toolbar);
        var banner = new Widget();
        banner.addClass("workshop-class-banner");
        banner.node.style.cssText = "display:flex;align-items:center;font-size:12px;margin-left:8px";
        render(banner.node, last);
        panel.toolbar.insertItem(0, "workshop-class-banner", banner);
        banners.push(banner);
        banner.disposed.connect(function () { banners = banners.filter(function (b) { return b !== banner; }); });
      }

      function poll() {
        var headers = {};
        if (settings.token) headers.Authorization = "token " + settings.token;
        fetch(settings.baseUrl + "workshop/status", {credentials: "same-origin", headers: headers})
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (status) {
            last = status;
            banners.forEach(function (b) { render(b.node, status); });
          })
          .catch(function () { last = null; banners.forEach(function (b) { render(b.node, null); }); });
      }

      app.restored.then(function () {
        var main = app.shell.widgets ? app.shell.widgets("main") : [];
        for (var w of main) attach(w);
        app.shell.currentChanged && app.shell.currentChanged.connect(function (_, change) { attach(change.newValue); });
        app.shell.layoutModified && app.shell.layoutModified.connect(function () {
          for (var w of app.shell.widgets("main")) attach(w);
        });
        poll();
        setInterval(poll, EVERY_MS);
      });
    }
  };

  var container = {
    init: function () { return Promise.resolve(); },
    get: function (module) {
      if (module !== "./extension") return Promise.reject(new Error(NAME + " has no module " + module));
      return Promise.resolve(function () { return {__esModule: true, "default": plugin}; });
    }
  };
  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB[NAME] = container;
})();
