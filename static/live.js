// Live cards. The page listens to its team's server-sent events (htmx's SSE extension on
// <main>); an unfinished card fetches itself when its event arrives. While the stream is not
// open, the page's one poller (#live-poller) fetches every unfinished card every 2 s instead,
// and each time the stream opens it runs once, to catch what happened while it was closed.
(function () {
  var streamOpen = false;

  function anyUnfinished() {
    return document.querySelector(".live-id") !== null;
  }
  function setMode(open) {
    streamOpen = open;
    document.documentElement.dataset.live = open ? "stream" : "polling";
  }

  // Polling is driven from here rather than by an hx-trigger filter, which htmx would have
  // to evaluate as code: the Content-Security-Policy allows no eval.
  setInterval(function () {
    var poller = document.getElementById("live-poller");
    if (poller && !streamOpen && anyUnfinished()) htmx.trigger(poller, "live-poll");
  }, 2000);

  document.addEventListener("htmx:sseOpen", function () {
    setMode(true);
    var poller = document.getElementById("live-poller");
    if (poller && anyUnfinished()) htmx.trigger(poller, "live-resync");
  });
  document.addEventListener("htmx:sseError", function () {
    setMode(false);
  });
  document.addEventListener("htmx:sseClose", function () {
    setMode(false);
  });
})();
