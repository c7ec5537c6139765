// The machine page without reloads. Every coin, Buy, coin return and refund form still posts as usual;
// with this script the post asks for the page's live parts only (header X-Live-Update: machine), swaps each
// part ([data-live], by id) in place, keeps the focus on the button that was pressed and sets the status
// line, an aria-live region, so that screen readers announce the deposit and the result. Posts are sent
// one after the other, so the page always shows the answer to the last one.
(() => {
  const status = document.getElementById("machine-status");
  if (!status) return;
  let queue = Promise.resolve();

  const swap = (html) => {
    const reply = new DOMParser().parseFromString(html, "text/html");
    const focused = document.activeElement && document.activeElement.id;
    for (const part of reply.querySelectorAll("[data-live]")) {
      const old = document.getElementById(part.id);
      if (old) old.replaceWith(document.adoptNode(part));
    }
    const said = reply.getElementById("machine-status");
    status.replaceChildren(...(said ? Array.from(said.childNodes, (node) => document.adoptNode(node)) : []));
    enhance();
    if (focused && document.activeElement !== document.getElementById(focused)) {
      // The button pressed may be gone or disabled now (a Buy that the deposit no longer covers): the status line.
      const again = document.getElementById(focused);
      (again && !again.disabled ? again : status).focus({ preventScroll: true });
    }
  };

  const send = async (form, body) => {
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST", body, credentials: "same-origin", headers: { "X-Live-Update": "machine" },
      });
    } catch {
      status.textContent = "The machine could not be reached: check the connection and try again.";
      return;
    }
    if (response.headers.get("X-Fragment") === "machine") {
      swap(await response.text());
    } else if (response.redirected) {
      window.location.assign(response.url); // a page the reply sends the buyer to: follow it
    } else {
      status.textContent = `That did not work (error ${response.status}): reload the page and try again.`;
    }
  };

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches("[data-live-form]")) return;
    event.preventDefault();
    const body = new FormData(form, event.submitter);
    queue = queue.then(() => send(form, body));
  });

  // A refund asks first: in place, the link (which without this script opens the confirmation page) gives way to
  // its row's hidden confirmation form; "Keep it" brings the link back.
  document.addEventListener("click", (event) => {
    const link = event.target.closest("[data-confirm]");
    const cancel = event.target.closest("[data-cancel]");
    if (link) {
      const confirm = document.getElementById(link.dataset.confirm);
      if (!confirm) return;
      event.preventDefault();
      link.hidden = true;
      confirm.hidden = false;
      confirm.querySelector("[type=submit]").focus();
    } else if (cancel) {
      const confirm = cancel.closest("form");
      const opener = document.querySelector(`[data-confirm="${confirm.id}"]`);
      confirm.hidden = true;
      opener.hidden = false;
      opener.focus();
    }
  });

  const enhance = () => {
    for (const close of document.querySelectorAll("[data-dismiss-result]")) {
      close.hidden = false;
      close.addEventListener("click", () => {
        document.getElementById("result")?.remove();
        status.focus({ preventScroll: true });
      });
    }
  };
  enhance();
})();
