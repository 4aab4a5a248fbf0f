// The arena: each side's answer streams in over Server-Sent Events (EventSource) and is inserted as
// text (never as markup: model output is untrusted). The vote buttons wake up once both sides are
// done; keys 1-4 vote as on the annotation page, n starts a new battle, Ctrl+Enter sends the prompt.
(function () {
  let shownAt = Date.now();

  function battle() { return document.querySelector("#battle .battle"); }

  function maybeReady() {
    const section = battle();
    if (!section) return;
    const sides = section.querySelectorAll(".arena-side");
    if (![...sides].every((s) => s.dataset.state === "done")) return;
    section.dataset.state = "ready";
    section.querySelectorAll("#vote-form button").forEach((b) => { b.disabled = false; });
    shownAt = Date.now();
  }

  function open(pane) {
    if (pane.dataset.opened) return;
    pane.dataset.opened = "1";
    const out = pane.querySelector(".arena-text");
    const status = pane.querySelector(".arena-status");
    const source = new EventSource(pane.dataset.streamUrl);
    source.addEventListener("piece", (event) => {
      out.appendChild(document.createTextNode(JSON.parse(event.data)));
    });
    source.addEventListener("done", (event) => {
      source.close();
      const result = JSON.parse(event.data || "{}");
      pane.dataset.state = "done";
      if (status) status.textContent = result.tokens ? `${result.tokens} tokens` : "done";
      maybeReady();
    });
    source.addEventListener("failed", (event) => {
      source.close();
      pane.dataset.state = "failed";
      const section = battle();
      if (section) section.dataset.state = "failed";
      if (status) { status.textContent = JSON.parse(event.data); status.classList.add("error"); }
    });
    // on a dropped connection EventSource reconnects by itself, sending Last-Event-ID: the server resumes
  }

  function scan() {
    document.querySelectorAll(".arena-side[data-stream-url]").forEach(open);
    maybeReady();
  }

  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:afterSwap", (event) => {
    // a new battle came in: the keys vote now, not type into the prompt
    const active = document.activeElement;
    if (event.detail.target.id === "battle" && active && active.closest("#arena-prompt")) active.blur();
    scan();
  });

  document.addEventListener("keydown", (event) => {
    const arena = document.getElementById("arena");
    if (!arena) return;
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && event.target.closest("#arena-prompt")) {
      event.preventDefault();
      const form = document.getElementById("arena-prompt");
      form.querySelector("button[type=submit]").click();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest && event.target.closest("textarea, select, input")) return;
    const section = battle();
    if (!section) return;
    const control = section.querySelector(`[data-key="${CSS.escape(event.key)}"]`);
    if (control && !control.disabled) {
      event.preventDefault();
      control.click();
    }
  });

  document.addEventListener("submit", (event) => {
    const ms = event.target.querySelector && event.target.querySelector("input[name=ms]");
    if (ms && event.target.id === "vote-form") ms.value = String(Date.now() - shownAt);
  }, true);
})();
