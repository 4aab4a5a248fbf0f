// Keyboard-first annotation: a key clicks the button that carries it in data-key.
// Time taken is measured from when the item was shown to when the answer is submitted.
(function () {
  let shownAt = Date.now();
  document.addEventListener("htmx:afterSwap", () => { shownAt = Date.now(); });
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest && event.target.closest("input, textarea, select")) return;
    const workspace = document.getElementById("workspace");
    if (!workspace) return;
    const button = workspace.querySelector(`[data-key="${CSS.escape(event.key)}"]`);
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
    }
  });
  document.addEventListener("submit", (event) => {
    const ms = event.target.querySelector("input[name=ms]");
    if (ms) ms.value = String(Date.now() - shownAt);
  }, true);
  document.addEventListener("htmx:responseError", (event) => {
    const flash = document.getElementById("flash");
    if (flash) flash.textContent = event.detail.xhr.responseText || "The server refused that request.";
  });
  document.addEventListener("htmx:sendError", () => {
    const flash = document.getElementById("flash");
    if (flash) flash.textContent = "Connection lost: your answer was not sent. Press the key again to retry.";
  });
  document.addEventListener("htmx:beforeRequest", () => {
    const flash = document.getElementById("flash");
    if (flash) flash.textContent = "";
  });
})();
