// The worklist's live refresh (issue 13: a new red reading shows within 5 s without a reload).
// Every 4 s the table's rows are asked for again and put in place of the old ones. It stops for
// good when the answer is not the rows (a redirect to the login once the session has ended, or
// a refusal), and waits while the nurse is using a form in the table. Without JavaScript the
// page works as it is, only without the refresh. A file of its own: the CSP allows no inline
// script.
(function () {
  "use strict";
  var EVERY_MS = 4000;
  var body = document.getElementById("worklist-rows");
  if (!body || !window.fetch || !("content" in document.createElement("template"))) {
    return;
  }
  var url = body.getAttribute("data-rows-url");

  function busy() {
    var active = document.activeElement;
    return active && active !== document.body && body.contains(active);
  }

  function replace(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    body.replaceChildren.apply(body, Array.prototype.slice.call(template.content.childNodes));
  }

  function later() {
    window.setTimeout(refresh, EVERY_MS);
  }

  function refresh() {
    if (busy()) {
      later();
      return;
    }
    fetch(url, { credentials: "same-origin", redirect: "manual", cache: "no-store" })
      .then(function (response) {
        if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 500)) {
          return null; // signed out, or no longer allowed: stop
        }
        if (!response.ok) {
          later(); // the server had a moment: try again
          return null;
        }
        return response.text().then(function (html) {
          if (!busy()) {
            replace(html);
          }
          later();
        });
      })
      .catch(later); // the network had a moment
  }

  later();
})();
