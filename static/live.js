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
  // News that arrives while a card's own fetch (or the poller's) is on its way would be lost:
  // htmx queues the card's next fetch on the element that the answer then replaces, and an
  // element gone from the page fetches nothing; a poller's answer may be older than a card
  // fetched meanwhile. So the stream also says "news" (the generation's id) for every change,
  // heard here whatever cards come and go; each card is stamped with when the request that
  // brought it was sent; and a card that had news since fetches itself once more
  // ("live-stale" is in every live card's hx-trigger) once htmx has set it up.
  var newsAt = {}; // generation id -> when its latest change was heard
  var pageStart = performance.now();
  var createSource = htmx.createEventSource;
  htmx.createEventSource = function (url) {
    var source = createSource(url);
    source.addEventListener("news", function (event) {
      newsAt[event.data] = performance.now();
    });
    return source;
  };
  function cardsIn(root) {
    var found = Array.prototype.slice.call(root.querySelectorAll("[data-generation]"));
    if (root.matches && root.matches("[data-generation]")) found.unshift(root);
    return found;
  }
  cardsIn(document).forEach(function (card) {
    card.liveSince = pageStart; // the page's own (the stream's first opening catches up on them)
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.xhr) event.detail.xhr.liveSentAt = performance.now();
  });
  document.addEventListener("htmx:afterOnLoad", function (event) {
    var xhr = event.detail.xhr;
    var sentAt = xhr && xhr.liveSentAt !== undefined ? xhr.liveSentAt : pageStart;
    cardsIn(document).forEach(function (card) {
      if (card.liveSince === undefined) card.liveSince = sentAt;
    });
  });
  document.addEventListener("htmx:load", function (event) {
    cardsIn(event.detail.elt).forEach(function (card) {
      var news = newsAt[card.dataset.generation];
      if (news !== undefined && news > card.liveSince && card.querySelector(".live-id")) {
        card.liveSince = performance.now();
        htmx.trigger(card, "live-stale");
      }
    });
  });

  document.addEventListener("htmx:sseError", function () {
    setMode(false);
  });
  document.addEventListener("htmx:sseClose", function () {
    setMode(false);
  });
})();
