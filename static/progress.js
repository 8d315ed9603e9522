// Progress people believe. Cards arrive through the live channel (static/live.js: the event
// stream, or its one poller) as htmx swaps; each card says its generation, whether it is in
// progress and whether it is the person's own (data-generation, data-in-progress, data-mine).
// From those: the elapsed time ticks on in-progress cards; a card that finishes is said in the
// live region; the tab's title counts the person's own in progress and marks one that finished
// while the tab was not looked at; and, with the person's permission, a video of theirs that
// finishes while the tab is hidden shows a browser notification.
(function () {
  var baseTitle = document.title;
  var inProgress = {}; // generation id -> whether its card was last seen in progress
  var finishedUnseen = false;

  function cards(root) {
    var found = Array.prototype.slice.call(root.querySelectorAll("[data-generation]"));
    if (root.matches && root.matches("[data-generation]")) found.unshift(root);
    return found;
  }
  function promptStart(card) {
    var prompt = card.querySelector(".prompt");
    var text = prompt ? prompt.textContent.trim() : "";
    return text.length > 60 ? text.slice(0, 59).trim() + "…" : text;
  }
  function outcome(card) {
    var name = "“" + promptStart(card) + "”";
    if (card.dataset.status === "success") return name + " is ready";
    if (card.dataset.status === "cancelled") return name + " was cancelled";
    var headline = card.querySelector(".failure .reason strong");
    return name + " failed" + (headline ? ": " + headline.textContent.trim() : "");
  }

  function updateTitle() {
    var mine = {};
    document.querySelectorAll("[data-generation][data-mine][data-in-progress]").forEach(function (card) {
      mine[card.dataset.generation] = true;
    });
    var count = Object.keys(mine).length;
    document.title = (finishedUnseen ? "✓ " : "") + (count ? "(" + count + ") " : "") + baseTitle;
  }
  function looking() {
    return !document.hidden && document.hasFocus();
  }
  function seen() {
    if (finishedUnseen && looking()) {
      finishedUnseen = false;
      updateTitle();
    }
  }
  document.addEventListener("visibilitychange", seen);
  window.addEventListener("focus", seen);

  function notify(card, text) {
    if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
    var notification = new Notification("Kling Studio", { body: text, tag: "generation-" + card.dataset.generation });
    notification.onclick = function () {
      window.focus();
      notification.close();
    };
  }

  function finished(card) {
    var text = outcome(card);
    if (window.studioAnnounce) window.studioAnnounce(text);
    if (card.dataset.mine === undefined) return;
    if (!looking()) finishedUnseen = true;
    notify(card, text);
  }

  function track(root) {
    cards(root).forEach(function (card) {
      var id = card.dataset.generation;
      var now = card.dataset.inProgress !== undefined;
      if (inProgress[id] === true && !now) finished(card);
      inProgress[id] = now;
    });
    updateTitle();
  }
  document.addEventListener("DOMContentLoaded", function () { track(document); });
  document.addEventListener("htmx:load", function (event) { track(event.target); });

  // The elapsed time on in-progress cards, in the words of the server's `duration_words`.
  function words(seconds) {
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    var rest = ("0" + (seconds % 60)).slice(-2);
    if (minutes < 60) return minutes + " min " + rest + " s";
    return Math.floor(minutes / 60) + " h " + ("0" + (minutes % 60)).slice(-2) + " min";
  }
  setInterval(function () {
    var now = Date.now() / 1000;
    document.querySelectorAll(".elapsed[data-since]").forEach(function (elapsed) {
      var since = parseInt(elapsed.dataset.since, 10);
      if (since) elapsed.textContent = words(Math.max(0, Math.floor(now - since)));
    });
  }, 1000);

  // "Notify me when videos finish": permission is asked only from this button's click.
  function showNotifyControl() {
    var button = document.getElementById("notify-button");
    var status = document.getElementById("notify-status");
    if (!button || !status || !("Notification" in window)) return;
    button.hidden = Notification.permission !== "default";
    status.hidden = Notification.permission !== "granted";
  }
  document.addEventListener("DOMContentLoaded", showNotifyControl);
  document.addEventListener("click", function (event) {
    if (!event.target.closest || !event.target.closest("#notify-button") || !("Notification" in window)) return;
    Notification.requestPermission().then(function () {
      showNotifyControl();
      if (Notification.permission === "granted" && window.studioAnnounce) {
        window.studioAnnounce("You will be notified when your videos finish.");
      }
    });
  });
})();
